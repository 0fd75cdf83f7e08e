/* The plan as the agent gets it ('P' frame, guest/proto.h): the command,
 * its environment and user, and where each share is mounted, so that the
 * guest shows the same paths a container instance would. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan/plan.h"
#include "util/err.h"
#include "vm/shares.h"

int sp_vm_guest_plan(const struct sp_plan *plan, const struct sp_vm_shares *shares, bool tty, uint8_t **out,
		     size_t *len, struct sp_err *err);
