/* The Nix settings of every nix-* command Spectrum runs: Debian's nix-bin
 * names a build group that does not exist (a warning on each call), and
 * without a network every substituter only costs a timeout. */
#pragma once

#define SP_NIX_CONFIG "build-users-group =\nsubstituters ="
#define SP_NIX_ENV "NIX_CONFIG=" SP_NIX_CONFIG
