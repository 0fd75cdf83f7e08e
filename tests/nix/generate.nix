# A generated configuration: INSTANCES instances over APPS apps, for the
# benchmark of `switch` and for tests of per-app updates.
#
#   import ./generate.nix { instances = 50; apps = 10; }
#
# App k (app-0 .. app-9) is a mkScriptApp printing its own name; instance
# i (inst-00 ..) runs app (i mod APPS), with its own rw grant
# Documents/inst-NN and a ro grant of Documents/shared.  CHANGE = k gives
# app k a different script, so that exactly the instances of app k change
# (with 50 over 10: five of them).
{ instances ? 50, apps ? 10, change ? null }:
let
  spectrum = import ../../nix;
  inherit (builtins) genList listToAttrs toString stringLength;

  pad = n: if n < 10 then "0${toString n}" else toString n;

  mkApp = k:
    let name = "app-${toString k}"; in
    spectrum.app {
      inherit name;
      software = [
        (spectrum.mkScriptApp {
          inherit name;
          script = ''
            #!/bin/sh
            echo "${name}${if change == k then " (changed)" else ""}: $*"
            ls "$HOME"
          '';
        })
      ];
      command = [ name ];
      defaults = {
        env.LANG = "C.UTF-8";
        resources = { memory = "64M"; pids = 32; };
        data = [ (spectrum.ro "Documents/shared" "/home/user/Shared") ];
      };
    };

  appList = genList mkApp apps;

  mkInstance = i:
    let name = "inst-${pad i}"; in {
      inherit name;
      value = spectrum.instance (builtins.elemAt appList (i - (i / apps) * apps)) {
        data = [ (spectrum.rw "Documents/${name}" "/home/user/Documents") ];
        resources.cpus = 0.1;
      };
    };
in
spectrum.config {
  instances = listToAttrs (genList mkInstance instances);
}
