/* How `inspect` and `list` describe an instance's network: its role, its
 * address, its provider (or its clients), its peers and its egress
 * policy, from the configuration alone. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/model.h"

/* {"mode": "none" | "client" | "provider", ...}; NULL on ENOMEM. */
json_t *sp_cli_net_json(const struct sp_config *cfg, const struct sp_instance *inst);

/* The "network" section of `inspect`. */
void sp_cli_net_print(const struct sp_config *cfg, const struct sp_instance *inst);

/* The NETWORK column of `list`: "none", "100.64.X.Y via P" or
 * "provider"; CONNECTED false says the client's link is gone (its
 * provider is down or was restarted after it). */
void sp_cli_net_short(const struct sp_instance *inst, bool connected, char *buf, size_t n);
