/* Capabilities: every set emptied (effective, permitted, inheritable,
 * ambient, bounding). */
#pragma once

#include "util/err.h"

/* Drops every capability from the bounding set and clears the ambient
 * set.  Needs CAP_SETPCAP, so it runs before the switch to the
 * unprivileged user. */
int sp_caps_drop_bounding(struct sp_err *err);

/* Empties the effective, permitted and inheritable sets with capset(2)
 * and checks that every set, bounding and ambient included, is empty. */
int sp_caps_clear(struct sp_err *err);
