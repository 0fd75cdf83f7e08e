# A bad instance name, caught by spectrum.config:
#   spectrum: instance Writer_Work: the name must match [a-z0-9][a-z0-9-]{0,62}
let spectrum = import ../../nix; in
spectrum.config {
  instances.Writer_Work = { software = [ "host" ]; command = [ "true" ]; };
}
