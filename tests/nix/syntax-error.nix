# A syntax error (line 5: a missing value): Nix's own message names this
# file and the line; nothing is evaluated.
{
  instances = {
    broken = { software = ; };
  };
}
