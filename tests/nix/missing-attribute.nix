# A missing attribute (line 8: the app has no "sofware"): an evaluation
# error that names this file and the line.
let
  spectrum = import ../../nix;
  app = spectrum.app { name = "a"; software = [ "host" ]; command = [ "true" ]; };
in
spectrum.config {
  instances.a = { software = app.sofware; command = app.command; };
}
