/* The path of a tree walk's current entry relative to its top: "" at the
 * top, then "a", "a/b", grown as the walk enters a directory and cut back
 * as it leaves (the NAR and manifest walkers, backup restore). */
#pragma once

#include <stddef.h>

struct sp_relpath {
	char *s; /* NUL-terminated once initialised */
	size_t len, cap;
};

/* S = "".  Returns -1 on ENOMEM. */
int sp_relpath_init(struct sp_relpath *p);

/* Appends NAME (after a '/' unless at the top); *OLD is what to give back
 * to sp_relpath_pop.  Returns -1 on ENOMEM, leaving P as it was. */
int sp_relpath_push(struct sp_relpath *p, const char *name, size_t *old);
void sp_relpath_pop(struct sp_relpath *p, size_t old);
void sp_relpath_free(struct sp_relpath *p);
