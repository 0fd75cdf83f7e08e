# fifty.nix with app-3 changed: exactly inst-03, -13, -23, -33, -43 change.
import ./generate.nix { instances = 50; apps = 10; change = 3; }
