#pragma once

#include "plan/plan.h"

/* Appends one mount; SOURCE may be NULL.  Returns -1 on ENOMEM. */
int sp_plan_add(struct sp_plan *plan, enum sp_mount_kind kind, enum sp_mount_origin origin,
		const char *source, const char *target, bool readonly);

/* The software of INST: host /usr and its links, and the closure of every
 * store path, bound read-only; fills plan->software and PATH_OUT. */
int sp_plan_software(const struct sp_instance *inst, struct sp_plan *plan,
		     char **path_out, struct sp_err *err);

/* The generated /etc: passwd, group, hosts, hostname, nsswitch.conf. */
int sp_plan_etc(const struct sp_instance *inst, struct sp_plan *plan, struct sp_err *err);

/* The network of INST (plan->net); -1 on ENOMEM. */
int sp_plan_net(const struct sp_instance *inst, struct sp_plan *plan);
void sp_plan_net_free(struct sp_plan_net *net);
