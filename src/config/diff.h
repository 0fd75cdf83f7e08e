/* The difference between two configurations, per instance, in plain
 * words: what `spectrum diff` prints and what `switch` reconciles. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config/model.h"

enum sp_diff_kind {
	SP_DIFF_SAME,
	SP_DIFF_ADDED,
	SP_DIFF_REMOVED,
	SP_DIFF_CHANGED,
};

struct sp_instance_diff {
	const char *name;     /* points into one of the configurations */
	enum sp_diff_kind kind;
	bool needs_restart;   /* a running instance must restart to get it */
	bool autostart;       /* of the new definition (or the old, when removed) */
	char **changes;       /* NULL-terminated sentences */
};

/* Compares OLD (may be NULL: nothing before) with NEW, instance by
 * instance, in the order of NEW then the removed ones. */
int sp_config_diff(const struct sp_config *old, const struct sp_config *new, struct sp_instance_diff **out,
		   size_t *n, struct sp_err *err);

void sp_config_diff_free(struct sp_instance_diff *d, size_t n);
