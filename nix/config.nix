# Apps, instances and the configuration.
#
# An app is declared once: its software, its command and the settings its
# instances share.  An instance is an app plus what it is granted:
#
#   writer = spectrum.app {
#     name = "writer";
#     software = [ writerPkg ];
#     command = [ "writer" "list" ];
#     defaults = { env.LANG = "C.UTF-8"; resources.memory = "128M"; };
#   };
#   spectrum.config {
#     instances.writer-work = spectrum.instance writer {
#       data = [ (spectrum.rw "Documents/work" "/home/user/Documents") ];
#     };
#   }
#
# Merging (app defaults, then the instance's settings):
#   - `data` APPENDS: the instance's grants come after the app's default
#     grants (an app may grant every instance the same folder);
#   - attribute sets (`resources`, `env`) merge key by key, the instance
#     winning: `resources.memory = "64M"` keeps the app's `cpus`;
#   - everything else (`software`, `command`, `net`, `restart`, ...) is
#     REPLACED by the instance's value when it gives one.
#
# `config` checks what it can see and throws with a message that names the
# instance and the key.  Spectrum validates the JSON again, fully (sizes,
# "not supported yet", duplicate mount points, ...): a file that does not
# use `config` gets the same checks, with Spectrum's messages.
let
  inherit (builtins)
    all attrNames concatStringsSep elem elemAt filter genList head isAttrs
    isBool isFloat isInt isList isString length mapAttrs match substring
    toJSON typeOf;

  isDerivation = x: isAttrs x && (x.type or null) == "derivation";

  # The keys of an instance that DESIGN.md knows (with `uplink`, a
  # provider's).  What joins instances (a provider that exists, peers that
  # list each other) is checked by Spectrum itself, with the key path.
  instanceKeys = [
    "isolation" "software" "command" "data" "net" "resources" "env"
    "restart" "autostart" "stop_timeout" "vm" "provides" "uplink"
  ];
  grantKeys = [ "path" "at" "mode" ];
  resourceKeys = [ "memory" "cpus" "pids" "files" "tmp" "shm" ];

  # Deep merge of settings B over A: see the header.
  merge = top: a: b:
    a // mapAttrs
      (k: bv:
        let av = a.${k} or null; in
        if top && k == "data" && isList av && isList bv then av ++ bv
        else if isAttrs av && isAttrs bv && !isDerivation av && !isDerivation bv
        then merge false av bv
        else bv)
      b;

  app = args@{ name, software, command, defaults ? { }, ... }:
    let unknown = filter (k: !(elem k [ "name" "software" "command" "defaults" ])) (attrNames args);
    in
    if unknown != [ ] then
      throw "spectrum: app ${name}: unknown argument ${head unknown} (settings go in defaults)"
    else if !isAttrs defaults then
      throw "spectrum: app ${name}: defaults must be an attribute set"
    else {
      _spectrumApp = true;
      inherit name software command defaults;
    };

  instance = app: settings:
    if !(isAttrs app && app._spectrumApp or false) then
      throw "spectrum: instance: the first argument must be made by spectrum.app"
    else if !isAttrs settings then
      throw "spectrum: instance of ${app.name}: settings must be an attribute set"
    else
      merge true (merge true { inherit (app) software command; } app.defaults) settings;

  # instancesOf app { NAME = settings; ... }: several instances of one app.
  instancesOf = app: mapAttrs (_: instance app);

  grant = mode: path: at: { inherit path at mode; };

  # ---- validation ---------------------------------------------------------

  show = v: if isDerivation v then "a derivation" else if typeOf v == "lambda" then "a function" else toJSON v;

  # The first failing check's message, or null.
  firstError = checks:
    let failed = filter (c: c != null) checks;
    in if failed == [ ] then null else head failed;

  # The checks of one list: every element through F (index, value).
  eachOf = list: f: firstError (genList (i: f i (elemAt list i)) (length list));

  nameOk = n: match "[a-z0-9][a-z0-9-]{0,62}" n != null;

  checkSoftware = v:
    if !isList v || v == [ ] then
      "software must be a non-empty list of derivations, Nix store paths or \"host\""
    else eachOf v (i: s:
      if isDerivation s || s == "host" then null
      else if isString s && substring 0 11 s == "/nix/store/" then null
      else "software[${toString i}] must be a derivation, a /nix/store path or \"host\", not ${show s}");

  checkCommand = v:
    if !isList v || v == [ ] then "command must be a non-empty list of strings"
    else eachOf v (i: s:
      if isString s then null else "command[${toString i}] must be a string, not ${show s}");

  checkGrant = i: g:
    let at = "data[${toString i}]"; in
    if !isAttrs g then "${at} must be { path; at; mode; } (spectrum.ro / spectrum.rw PATH AT), not ${show g}"
    else firstError ([
      (let u = filter (k: !(elem k grantKeys)) (attrNames g);
       in if u != [ ] then "${at}.${head u} is not a key of a grant (path, at, mode)" else null)
      (if !(g ? path) then "${at}.path is missing"
       else if !isString g.path || g.path == "" then "${at}.path must be a non-empty string"
       else if substring 0 1 g.path == "/" then "${at}.path must be relative to the data directory, not ${show g.path}"
       else if elem ".." (filter isString (builtins.split "/" g.path)) then "${at}.path must not contain \"..\""
       else null)
      (if !(g ? at) then "${at}.at is missing"
       else if !isString g.at || substring 0 1 g.at != "/" then "${at}.at must be an absolute path"
       else null)
      (if g ? mode && !(elem g.mode [ "ro" "rw" ]) then "${at}.mode must be \"ro\" or \"rw\"" else null)
    ]);

  checkData = v:
    if !isList v then "data must be a list of grants" else eachOf v checkGrant;

  checkResources = v:
    if !isAttrs v then "resources must be an attribute set"
    else firstError ([
      (let u = filter (k: !(elem k resourceKeys)) (attrNames v);
       in if u != [ ] then "resources.${head u} is not a resource (memory, cpus, pids, files, tmp, shm)" else null)
      (if v ? memory && !(isString v.memory || isInt v.memory) then
        "resources.memory must be a size such as \"256M\" or a number of bytes" else null)
      (if v ? cpus && !(isInt v.cpus || isFloat v.cpus) then "resources.cpus must be a number" else null)
      (if v ? pids && !isInt v.pids then "resources.pids must be an integer" else null)
      (if v ? files && !isInt v.files then "resources.files must be an integer" else null)
      (if v ? tmp && !(isString v.tmp || isInt v.tmp) then
        "resources.tmp must be a size such as \"64M\" or a number of bytes" else null)
      (if v ? shm && !(isString v.shm || isInt v.shm) then
        "resources.shm must be a size such as \"64M\" or a number of bytes" else null)
    ]);

  checkEnv = v:
    if !isAttrs v then "env must be an attribute set of strings"
    else firstError (map (k: if isString v.${k} then null else "env.${k} must be a string, not ${show v.${k}}") (attrNames v));

  checkInstance = inst:
    if !isAttrs inst then "must be an attribute set (spectrum.instance APP { ... }), not ${show inst}"
    else if inst._spectrumApp or false then "is an app, not an instance: use spectrum.instance APP { ... }"
    else firstError [
      (let u = filter (k: !(elem k instanceKeys)) (attrNames inst);
       in if u != [ ] then "${head u} is not a key of an instance (${concatStringsSep ", " instanceKeys})" else null)
      (if inst ? software then checkSoftware inst.software else "software is missing")
      (if inst ? command then checkCommand inst.command else null)
      (if inst ? data then checkData inst.data else null)
      (if inst ? resources then checkResources inst.resources else null)
      (if inst ? env then checkEnv inst.env else null)
      (if inst ? isolation && !(elem inst.isolation [ "container" "vm" ]) then
        "isolation must be \"container\" or \"vm\"" else null)
      (if inst ? restart && !(elem inst.restart [ "no" "on-failure" "always" ]) then
        "restart must be \"no\", \"on-failure\" or \"always\"" else null)
      (if inst ? autostart && !isBool inst.autostart then "autostart must be true or false" else null)
      (if inst ? net && !(inst.net == "none" || isAttrs inst.net) then
        "net must be \"none\" or { provider = NAME; }" else null)
    ];

  validate = name: inst:
    if !nameOk name then
      throw "spectrum: instance ${name}: the name must match [a-z0-9][a-z0-9-]{0,62}"
    else
      let e = checkInstance inst; in
      if e != null then throw "spectrum: instance ${name}: ${e}" else inst;

  config = args:
    if !isAttrs args then throw "spectrum: config: the argument must be { instances = { ... }; }"
    else
      let u = filter (k: k != "instances") (attrNames args); in
      if u != [ ] then throw "spectrum: config: ${head u} is not a key of the configuration (only instances)"
      else if !isAttrs (args.instances or null) then
        throw "spectrum: config: instances must be an attribute set of instances"
      else { instances = mapAttrs validate args.instances; };
in
{
  inherit app instance instancesOf config;
  ro = grant "ro";
  rw = grant "rw";
}
