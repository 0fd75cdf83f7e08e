# The Spectrum demo in Nix: one word processor, two compartments.
#
# `writer` is declared once; writer-work and writer-home differ only in what
# they are granted and how much they may use.  The software is a Nix
# derivation (apps/writer.nix: bin/writer and busybox), built offline: no
# "host" software, so the instances see nothing of the host's /usr.
#
#   spectrum run --config examples/writer.nix writer-work
#
# Outside this repository, import the library as  import <spectrum>
# (Spectrum puts its nix/ on the search path as "spectrum").
let
  spectrum = import ../nix;

  writer = spectrum.app {
    name = "writer";
    software = [ (import ./apps/writer.nix { inherit spectrum; }) ];
    command = [ "writer" "list" ];
    defaults = {
      isolation = "container";
      net = "none";
      env.LANG = "C.UTF-8";
      resources = { memory = "128M"; cpus = 0.5; pids = 64; };
    };
  };
in
spectrum.config {
  instances = {
    writer-work = spectrum.instance writer {
      data = [ (spectrum.rw "Documents/work" "/home/user/Documents") ];
    };

    writer-home = spectrum.instance writer {
      data = [
        (spectrum.rw "Documents/home" "/home/user/Documents")
        (spectrum.ro "Documents/shared" "/home/user/Shared")
      ];
      resources = { memory = "64M"; cpus = 0.25; pids = 32; };
    };
  };
}
