# Small software built offline, with nothing but busybox: no nixpkgs, no
# stdenv, no network.
{ busybox }:
let
  inherit (builtins) concatStringsSep filter typeOf;

  # The applets linked into an app's bin/ by default: the POSIX tools a
  # shell script (and a person in `spectrum run NAME -- sh`) expects.  An
  # instance's PATH is the bin/ of each of its software paths, so these
  # links are how the script's `wc`, `sed`, ... are found inside it.
  defaultApplets = [
    "sh" "[" "awk" "basename" "cat" "chmod" "cmp" "cp" "cut" "date" "diff"
    "dirname" "du" "echo" "env" "expr" "false" "find" "grep" "head" "hostname"
    "id" "kill" "ln" "ls" "mkdir" "mktemp" "mv" "od" "printf" "ps" "pwd"
    "readlink" "realpath" "rm" "rmdir" "sed" "seq" "sleep" "sort" "stat"
    "tail" "tee" "test" "touch" "tr" "true" "uname" "uniq" "wc" "whoami"
    "xargs"
  ];

  # The build, run by busybox's sh with no PATH: every tool is called as
  # "$bb TOOL".  The script's own "#!" line, if any, is replaced by one
  # that names busybox's sh in the store.
  buildScript = ''
    set -eu
    bb=$busybox/bin/busybox
    $bb mkdir -p "$out/bin"
    f=$out/bin/$appName
    $bb printf '#!%s sh\n' "$bb" >"$f"
    $bb sed '1{/^#!/d}' "$src" >>"$f"
    $bb chmod 0555 "$f"
    for a in $applets; do
      [ "$a" = "$appName" ] || $bb ln -s "$bb" "$out/bin/$a"
    done
  '';

  # mkScriptApp { name; script; applets ? defaultApplets; busybox ? ... }
  #
  # A derivation whose output is
  #   bin/NAME      the script, run by busybox sh ("#!/nix/store/...-busybox/bin/busybox sh")
  #   bin/APPLET    symlinks to busybox, one per applet
  # so its closure is the app and busybox, nothing else.
  #
  # script: a path (./bin/writer: its first line, if "#!...", is replaced)
  #         or the script's text as a string.
  # The result has .override: app.override { script = ...; } or
  # app.override (old: { script = ...; }) gives a changed app.
  mkScriptApp = args@{ name, script, applets ? defaultApplets, busybox ? busybox', ... }:
    let
      unknown = filter (k: !(builtins.elem k [ "name" "script" "applets" "busybox" ])) (builtins.attrNames args);
      src =
        if typeOf script == "path" then script
        else if typeOf script == "string" then builtins.toFile "${name}-script" script
        else throw "spectrum: mkScriptApp ${name}: script must be a path or a string, not a ${typeOf script}";
      drv = derivation {
        inherit name src;
        system = builtins.currentSystem;
        builder = "${busybox}/bin/busybox";
        args = [ "sh" "-c" buildScript ];
        inherit busybox;
        appName = name;
        applets = concatStringsSep " " applets;
      };
    in
    if unknown != [ ] then
      throw "spectrum: mkScriptApp ${name}: unknown argument ${builtins.head unknown}"
    else if builtins.match "[A-Za-z0-9+_.-]+" name == null || builtins.substring 0 1 name == "." then
      throw "spectrum: mkScriptApp: name \"${name}\" must be a plain file name"
    else
      drv // {
        override = f:
          mkScriptApp (args // (if builtins.isFunction f then f args else f));
      };

  busybox' = busybox;
in
{
  inherit mkScriptApp defaultApplets;
}
