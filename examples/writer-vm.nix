# The writer app of writer.nix once more, in a virtual machine: the same
# configuration keys, the same central store, its own kernel.  Only
# `isolation` and `vm` differ from a container instance.
let
  spectrum = import ../nix;
  writer = spectrum.app {
    name = "writer";
    software = [ (import ./apps/writer.nix { inherit spectrum; }) ];
    command = [ "writer" "list" ];
    defaults = {
      env.LANG = "C.UTF-8";
    };
  };
in
spectrum.config {
  instances = {
    writer-vm = spectrum.instance writer {
      isolation = "vm";
      vm = { memory = "256M"; vcpus = 1; };
      data = [
        (spectrum.rw "Documents/travel" "/home/user/Documents")
        (spectrum.ro "Documents/shared" "/home/user/Shared")
      ];
    };
  };
}
