# The host's busybox-static in the Nix store, without a derivation and
# without network: `builtins.path` copies just the one binary.
#
#   busyboxFrom "/bin/busybox"  ->  /nix/store/HASH-busybox/bin/busybox
#
# Why a directory with bin/busybox and not the bare file: busybox picks the
# applet from the name it was called by, and accepts "busybox APPLET" only
# when that name starts with "busybox".  A store file is called
# ".../HASH-busybox", which busybox answers with "applet not found"; as
# ".../HASH-busybox/bin/busybox" it works as a builder, in a "#!" line and
# as the target of applet symlinks.
#
# The copy is made by filtering the directory that really holds the binary
# (/usr/bin on a merged-/usr Debian 12, /bin on an older layout), so that
# nothing else of it reaches the store.  The store path depends only on the
# binary's bytes: the same busybox-static gives the same path everywhere.
let
  # The directory of FILE as a string, and FILE's own name.
  dirOfStr = file: builtins.dirOf (toString file);
  baseOf = file: builtins.baseNameOf (toString file);

  # TYPE of NAME in DIR ("regular", "symlink", ...) or null.
  typeIn = dir: name:
    let entries = if builtins.pathExists dir then builtins.readDir dir else { };
    in entries.${name} or null;

  # True when DIR is a real directory, not a symlink to one ("/" is).
  realDir = dir: dir == "/" || typeIn (dirOfStr dir) (baseOf dir) == "directory";

  # A regular file (not a symlink) in a real directory: /bin is a symlink
  # to usr/bin on merged-/usr systems, and builtins.path copies a symlink
  # as a symlink, so /bin/busybox is reached there as /usr/bin/busybox.
  # The candidates are tried in order; the first that qualifies is copied.
  resolve = file:
    let
      f = toString file;
      candidates = [ f ] ++ (if f == "/bin/busybox" then [ "/usr/bin/busybox" ] else [ ]);
      ok = c:
        let bin = dirOfStr c; in
        typeIn bin (baseOf c) == "regular" && realDir bin && realDir (dirOfStr bin);
      regular = builtins.filter ok candidates;
    in
    if regular == [ ] then
      throw "spectrum: busybox: ${f} is not a regular file (on Debian: apt-get install busybox-static)"
    else builtins.head regular;

  # Copies FILE (a path or an absolute string) as bin/busybox.
  busyboxFrom = file:
    let
      real = resolve file;
      bin = dirOfStr real;        # e.g. /usr/bin
      top = dirOfStr bin;         # e.g. /usr  (or / for /bin)
      name = baseOf real;
      keep = p: p == bin || p == "${bin}/${name}";
    in
    if baseOf bin != "bin" then
      throw "spectrum: busybox: ${real} must be in a directory called bin"
    else if name != "busybox" then
      throw "spectrum: busybox: ${real} must be called busybox"
    else
      builtins.path {
        name = "busybox";
        path = top;
        filter = path: _type: keep (toString path);
      };
in
{
  inherit busyboxFrom;
}
