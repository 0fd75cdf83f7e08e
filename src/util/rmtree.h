/* Removing a directory tree that Spectrum made (a share directory, a
 * runtime directory), never following a symlink and never descending
 * into a mount (another filesystem, or a bind mount of the same one): a
 * mount left inside is not emptied, and what holds it stays. */
#pragma once

/* Removes NAME beneath DIRFD and everything in it; best effort. */
void sp_rmtree(int dirfd, const char *name);
