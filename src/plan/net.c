/* The network part of a plan: names and addresses only, from the
 * configuration, with no system call (the engine makes the links). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"
#include "plan/plan-internal.h"

/* A client's link is named after its MAC, which is unique among the
 * provider's clients (the name is not: it may be longer than a link's). */
static void port_name(const uint8_t mac[6], char out[SP_LINK_NAME_MAX])
{
	snprintf(out, SP_LINK_NAME_MAX, "spc-%02x%02x%02x", mac[3], mac[4], mac[5]);
}

int sp_plan_net(const struct sp_instance *inst, struct sp_plan *plan)
{
	struct sp_plan_net *net = &plan->net;
	const struct sp_net *cfg = &inst->net;

	if (inst->provides_net) {
		net->role = SP_NET_ROLE_PROVIDER;
		net->uplink = inst->uplink;
		return 0;
	}
	if (!cfg->provider)
		return 0;
	net->role = SP_NET_ROLE_CLIENT;
	if (!(net->provider = strdup(cfg->provider)))
		return -1;
	memcpy(net->mac, cfg->mac, 6);
	sp_net_mac_text(net->mac, net->mac_text);
	sp_net_addr_of(net->mac, net->addr);
	port_name(net->mac, net->port);
	net->allow_any = cfg->allow_any;
	if (cfg->n_allow) {
		if (!(net->allow = malloc(cfg->n_allow * sizeof *net->allow)))
			return -1;
		memcpy(net->allow, cfg->allow, cfg->n_allow * sizeof *net->allow);
		net->n_allow = cfg->n_allow;
	}
	if (cfg->n_peers && !(net->peers = calloc(cfg->n_peers, sizeof *net->peers)))
		return -1;
	for (size_t i = 0; i < cfg->n_peers; i++) {
		struct sp_plan_peer *p = &net->peers[i];

		if (!(p->name = strdup(cfg->peers[i].name)))
			return -1;
		net->n_peers++;
		port_name(cfg->peers[i].mac, p->port);
		sp_net_addr_of(cfg->peers[i].mac, p->addr);
	}
	return 0;
}

void sp_plan_net_free(struct sp_plan_net *net)
{
	free(net->provider);
	for (size_t i = 0; i < net->n_peers; i++)
		free(net->peers[i].name);
	free(net->peers);
	free(net->allow);
	memset(net, 0, sizeof *net);
}
