# The same mistake as bad-mode.nix, caught by the library's spectrum.config
# with a throw that names the instance and the key:
#   spectrum: instance writer-work: data[0].mode must be "ro" or "rw"
let
  spectrum = import ../../nix;
  app = spectrum.app { name = "w"; software = [ "host" ]; command = [ "true" ]; };
in
spectrum.config {
  instances.writer-work = spectrum.instance app {
    data = [ { path = "Documents/work"; at = "/home/user/Documents"; mode = "rwx"; } ];
  };
}
