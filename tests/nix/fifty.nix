# 50 instances over 10 apps (bench/switch, tests): see generate.nix.
import ./generate.nix { instances = 50; apps = 10; }
