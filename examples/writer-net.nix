# The writer app of writer.nix with a network: a provider instance `netvm`
# (the same software: busybox's httpd serves its home on 100.64.0.1:8080)
# and the two writers as its clients, each on its own link, which cannot
# reach each other.  No uplink: nothing of this touches the host's network.
#
#   spectrum run --config examples/writer-net.nix netvm &
#   spectrum run --config examples/writer-net.nix writer-work -- wget -q -O- http://100.64.0.1:8080/
let
  spectrum = import ../nix;
  # The writer app with busybox's network tools besides its usual ones.
  writerNet = spectrum.mkScriptApp {
    name = "writer";
    script = ./apps/writer/bin/writer;
    applets = spectrum.defaultApplets ++ [ "httpd" "wget" "nc" "ip" ];
  };
  writer = spectrum.app {
    name = "writer";
    software = [ writerNet ];
    command = [ "writer" "list" ];
    defaults = {
      env.LANG = "C.UTF-8";
      net = { provider = "netvm"; };
    };
  };
in
spectrum.config {
  instances = {
    netvm = spectrum.instance writer {
      provides = [ "net" ];
      net = "none";
      command = [ "sh" "-c" "echo '<p>Hello from netvm, the provider.</p>' > index.html && exec httpd -f -p 100.64.0.1:8080 -h /home/user" ];
    };
    writer-work = spectrum.instance writer {
      data = [ (spectrum.rw "Documents/work" "/home/user/Documents") ];
      # Its egress policy: the provider's web server and nothing else.
      net = { provider = "netvm"; allow = [ ]; };
    };
    writer-home = spectrum.instance writer {
      data = [ (spectrum.rw "Documents/home" "/home/user/Documents") ];
    };
  };
}
