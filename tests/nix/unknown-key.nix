# An unknown key of an instance ("sofware"), without the library: Spectrum's
# validation refuses it (instances.a.sofware).
{
  instances.a = {
    sofware = [ "host" ];
    software = [ "host" ];
    command = [ "true" ];
  };
}
