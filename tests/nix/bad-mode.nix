# Valid Nix, invalid configuration, caught by Spectrum's own validation
# (not by the library): the JSON path gives the same message,
#   bad-mode.nix: instances.writer-work.data[0].mode: expected "ro" or "rw"
{
  instances.writer-work = {
    software = [ "host" ];
    command = [ "true" ];
    data = [ { path = "Documents/work"; at = "/home/user/Documents"; mode = "rwx"; } ];
  };
}
