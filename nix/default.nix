# The Spectrum library: what a configuration file imports.
#
#   let spectrum = import <spectrum>; in      # spectrum's nix/ on the path (-I spectrum=...)
#   let spectrum = import ./path/to/nix; in   # or relative, as the examples do
#
# Declaring (see config.nix):
#   spectrum.app { name; software; command; defaults ? { }; }
#   spectrum.instance APP { data = [ ... ]; resources = { ... }; ... }
#   spectrum.instancesOf APP { NAME = { ... }; ... }
#   spectrum.config { instances = { NAME = INSTANCE; ... }; }
#   spectrum.ro PATH AT, spectrum.rw PATH AT   (a grant of data/PATH at AT)
#
# Building small software offline, from the host's busybox-static (see
# busybox.nix and build.nix):
#   spectrum.busybox                 /nix/store/...-busybox (bin/busybox)
#   spectrum.busyboxFrom FILE        the same from another binary
#   spectrum.mkScriptApp { name; script; applets ? spectrum.defaultApplets; }
#
# A configuration file evaluates to { instances = { ... }; }, the JSON model
# of DESIGN.md; Spectrum reads it through eval.nix.
let
  bb = import ./busybox.nix;
  busybox = bb.busyboxFrom "/bin/busybox";
  build = import ./build.nix { inherit busybox; };
  config = import ./config.nix;
in
config // {
  inherit busybox;
  inherit (bb) busyboxFrom;
  inherit (build) mkScriptApp defaultApplets;
}
