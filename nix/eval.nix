# How Spectrum reads a .nix configuration:
#
#   nix-instantiate --eval --strict --json --read-write-mode \
#     -I spectrum=<repo>/nix --argstr file /abs/path/config.nix <repo>/nix/eval.nix
#
# gives { "config": <the file's value as JSON>, "drvs": [ "/nix/store/...drv", ... ] }.
# In `config` every derivation is its output path.  `drvs` is the .drv of
# every derivation in any instance's `software`, each once, sorted: what
# Spectrum realises (nix-store --realise) and keeps alive with GC roots.
# --read-write-mode makes Nix write those .drv files (and the sources they
# need) into the store; without it the paths are computed but not written.
#
# The file's value is used as it is.  A function (e.g. `{ changed ? false }: ...`)
# is called with { }, as nix-instantiate itself would.
{ file }:
let
  inherit (builtins) attrNames attrValues concatMap filter isAttrs isFunction isList listToAttrs map
    unsafeDiscardStringContext;

  value = import file;
  config = if isFunction value then value { } else value;

  instances =
    if isAttrs config && isAttrs (config.instances or null) then attrValues config.instances else [ ];
  software = concatMap (i: if isAttrs i && isList (i.software or null) then i.software else [ ]) instances;
  drvPaths = map (x: x.drvPath) (filter (x: isAttrs x && x ? drvPath) software);
in
{
  inherit config;
  # Deduplicated through attribute names, which may not carry a string's
  # store context: the context is not needed, the JSON is only text.
  drvs = attrNames (listToAttrs (map (p: { name = unsafeDiscardStringContext p; value = null; }) drvPaths));
}
