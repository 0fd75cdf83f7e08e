# writer.nix, one release later: for `spectrum diff` and `switch`.
#
# Two changes, nothing else:
#   - the writer app changes: the same script with a `writer version`
#     command, made with .override (so its store path changes, and with it
#     the software of both instances: "software changed");
#   - writer-home is granted one more folder, Documents/archive, read-only
#     ("grant added").
let
  spectrum = import ../nix;

  writer1 = import ./apps/writer.nix { inherit spectrum; };
  writer2 = writer1.override (old:
    let
      text = builtins.readFile old.script;
      anchor = "-h | --help | help) usage ;;";
      changed = builtins.replaceStrings [ anchor ]
        [ "version) echo \"writer 2\" ;;\n${anchor}" ] text;
    in
    # A guard, so that an edit of bin/writer cannot make v2 equal to v1.
    assert changed != text;
    { script = changed; });

  writer = spectrum.app {
    name = "writer";
    software = [ writer2 ];
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
        (spectrum.ro "Documents/archive" "/home/user/Archive")
      ];
      resources = { memory = "64M"; cpus = 0.25; pids = 32; };
    };
  };
}
