# Checks of the library's merging and validation, without building
# anything.  Evaluates to the list of the names of the checks that failed:
#   nix-instantiate --eval --strict --json tests/nix/lib-checks.nix   # -> []
let
  spectrum = import ../../nix;
  inherit (builtins) tryEval deepSeq filter attrNames;

  app = spectrum.app {
    name = "a";
    software = [ "host" ];
    command = [ "a" "run" ];
    defaults = {
      env = { LANG = "C.UTF-8"; A = "1"; };
      resources = { memory = "128M"; cpus = 0.5; };
      data = [ (spectrum.ro "shared" "/home/user/Shared") ];
    };
  };
  i = spectrum.instance app {
    data = [ (spectrum.rw "mine" "/home/user/Documents") ];
    resources.memory = "64M";
    env.B = "2";
  };
  throws = v: !(tryEval (deepSeq v v)).success;
  cfg = instances: spectrum.config { inherit instances; };
  ok = x: cfg { x = x; };

  checks = {
    "software and command come from the app" = i.software == [ "host" ] && i.command == [ "a" "run" ];
    "data appends to the app's default data" =
      i.data == [ { path = "shared"; at = "/home/user/Shared"; mode = "ro"; }
                  { path = "mine"; at = "/home/user/Documents"; mode = "rw"; } ];
    "resources merge key by key" = i.resources == { memory = "64M"; cpus = 0.5; };
    "env merges key by key" = i.env == { LANG = "C.UTF-8"; A = "1"; B = "2"; };
    "command is replaced, not appended" = (spectrum.instance app { command = [ "b" ]; }).command == [ "b" ];
    "no library keys leak into an instance" = attrNames i == [ "command" "data" "env" "resources" "software" ];
    "ro and rw" = spectrum.ro "p" "/a" == { path = "p"; at = "/a"; mode = "ro"; }
      && (spectrum.rw "p" "/a").mode == "rw";
    "a valid config is returned as it is" = (ok i).instances.x == i;
    "instancesOf" = attrNames (spectrum.instancesOf app { p = { }; q = { }; }) == [ "p" "q" ];
    "bad name throws" = throws (cfg { "Bad_Name" = i; });
    "bad mode throws" = throws (ok (i // { data = [ { path = "x"; at = "/x"; mode = "rwx"; } ]; }));
    "absolute data path throws" = throws (ok (i // { data = [ (spectrum.rw "/etc" "/x") ]; }));
    "dot-dot data path throws" = throws (ok (i // { data = [ (spectrum.rw "a/../../etc" "/x") ]; }));
    "relative at throws" = throws (ok (i // { data = [ (spectrum.rw "a" "x") ]; }));
    "unknown grant key throws" = throws (ok (i // { data = [ ((spectrum.rw "a" "/x") // { moed = "ro"; }) ]; }));
    "unknown instance key throws" = throws (ok (i // { sofware = [ "host" ]; }));
    "missing software throws" = throws (ok (removeAttrs i [ "software" ]));
    "empty software throws" = throws (ok (i // { software = [ ]; }));
    "a relative software path throws" = throws (ok (i // { software = [ "bin/x" ]; }));
    "empty command throws" = throws (ok (i // { command = [ ]; }));
    "non-string env throws" = throws (ok (i // { env.X = 1; }));
    "unknown resource throws" = throws (ok (i // { resources.disk = "1G"; }));
    "bad restart throws" = throws (ok (i // { restart = "sometimes"; }));
    "an app as an instance throws" = throws (cfg { x = app; });
    "unknown config key throws" = throws (spectrum.config { instances = { }; host = { }; });
    "instance of a non-app throws" = throws (spectrum.instance { } { });
    "unknown app argument throws" = throws (spectrum.app { name = "x"; software = [ ]; command = [ ]; env = { }; });
    "vm and provides pass to Spectrum's own refusal" =
      (ok (i // { isolation = "vm"; provides = [ "net" ]; })).instances.x.isolation == "vm";
    "mkScriptApp refuses an unknown argument" =
      throws (spectrum.mkScriptApp { name = "x"; script = "echo"; version = "1"; }).drvPath;
    "mkScriptApp refuses a bad name" = throws (spectrum.mkScriptApp { name = "a/b"; script = "echo"; }).drvPath;
    "override changes the app" =
      let a = spectrum.mkScriptApp { name = "x"; script = "echo 1"; }; in
      a.outPath != (a.override { script = "echo 2"; }).outPath
      && a.outPath == (a.override (old: { script = old.script; })).outPath;
  };
in
filter (name: !checks.${name}) (attrNames checks)
