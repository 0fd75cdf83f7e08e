# The writer app as a Nix derivation, built offline from bin/writer and the
# host's busybox-static:
#
#   NIX_CONFIG="build-users-group =" nix-build examples/apps/writer.nix
#
# gives /nix/store/...-writer with bin/writer ("#!/nix/store/...-busybox/bin/busybox sh")
# and bin/{sh,cat,ls,wc,...}, symlinks to busybox, so that the script finds
# its tools on an instance's PATH with no "host" software at all.  Its
# closure is this path and busybox.
{ spectrum ? import ../../nix }:
spectrum.mkScriptApp {
  name = "writer";
  script = ./writer/bin/writer;
}
