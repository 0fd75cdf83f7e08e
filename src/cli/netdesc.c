#include "cli/netdesc.h"

#include <stdio.h>
#include <string.h>

#include "net/addr.h"

static bool is_client_of(const struct sp_instance *inst, const char *provider)
{
	return inst->net.provider && strcmp(inst->net.provider, provider) == 0;
}

static json_t *client_json(const struct sp_instance *inst)
{
	const struct sp_net *net = &inst->net;
	json_t *peers = json_array(), *allow = net->allow_any ? json_null() : json_array();
	char addr[16], mac[18], rule[64], cidr[24];

	sp_net_addr_of(net->mac, addr);
	sp_net_mac_text(net->mac, mac);
	snprintf(cidr, sizeof cidr, "%s/%d", addr, SP_NET_PREFIX_LEN);
	for (size_t i = 0; i < net->n_peers; i++)
		json_array_append_new(peers, json_string(net->peers[i].name));
	for (size_t i = 0; !net->allow_any && i < net->n_allow; i++) {
		sp_net_allow_text(&net->allow[i], rule, sizeof rule);
		json_array_append_new(allow, json_string(rule));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "mode", "client", "provider", net->provider,
			 "interface", "eth0", "mac", mac, "address", cidr, "gateway", SP_NET_PROVIDER_ADDR, "dns",
			 SP_NET_PROVIDER_ADDR, "peers", peers, "allow", allow);
}

json_t *sp_cli_net_json(const struct sp_config *cfg, const struct sp_instance *inst)
{
	json_t *clients;

	if (inst->net.provider)
		return client_json(inst);
	if (!inst->provides_net)
		return json_pack("{s:s}", "mode", "none");
	clients = json_array();
	for (size_t i = 0; i < cfg->n_instances; i++)
		if (is_client_of(&cfg->instances[i], inst->name))
			json_array_append_new(clients, json_string(cfg->instances[i].name));
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "mode", "provider", "bridge", SP_NET_BRIDGE, "address",
			 SP_NET_PROVIDER_ADDR "/16", "uplink", inst->uplink == SP_UPLINK_HOST ? "host" : "none",
			 "clients", clients);
}

static void print_client(const struct sp_config *cfg, const struct sp_instance *inst)
{
	const struct sp_net *net = &inst->net;
	char addr[16], mac[18], rule[64];

	sp_net_addr_of(net->mac, addr);
	sp_net_mac_text(net->mac, mac);
	printf("\nnetwork    client of %s: eth0 %s/%d, MAC %s; gateway and DNS %s; no IPv6;\n"
	       "           ICMP echo sockets for its user; no capability over any of it\n",
	       net->provider, addr, SP_NET_PREFIX_LEN, mac, SP_NET_PROVIDER_ADDR);
	printf("  peers    ");
	if (net->n_peers == 0)
		printf("none: no other client of %s can reach it, nor it them\n", net->provider);
	for (size_t i = 0; i < net->n_peers; i++) {
		const struct sp_instance *p = sp_config_find(cfg, net->peers[i].name);
		char paddr[16] = "?";

		if (p)
			sp_net_addr_of(p->net.mac, paddr);
		printf("%s%s (%s)%s", i ? ", " : "", net->peers[i].name, paddr, i + 1 == net->n_peers ? "\n" : "");
	}
	printf("  egress   ");
	if (net->allow_any) {
		printf("anything %s's uplink takes (no \"allow\")\n", net->provider);
		return;
	}
	if (net->n_allow == 0) {
		printf("only %s itself (\"allow\": [])\n", net->provider);
		return;
	}
	for (size_t i = 0; i < net->n_allow; i++) {
		sp_net_allow_text(&net->allow[i], rule, sizeof rule);
		printf("%s%s", i ? ", " : "", rule);
	}
	printf("; nothing else beyond %s\n", net->provider);
}

void sp_cli_net_print(const struct sp_config *cfg, const struct sp_instance *inst)
{
	size_t n = 0;

	if (inst->net.provider) {
		print_client(cfg, inst);
		return;
	}
	if (!inst->provides_net) {
		if (inst->isolation == SP_ISOLATION_VM)
			printf("\nnetwork    none: the guest has no network device, loopback only\n");
		else
			printf("\nnetwork    none: loopback only, in its own network namespace\n");
		return;
	}
	printf("\nnetwork    provider: bridge %s at %s/16, MAC 0a:b3:ec:00:00:01, forwarding\n", SP_NET_BRIDGE,
	       SP_NET_PROVIDER_ADDR);
	if (inst->uplink == SP_UPLINK_HOST)
		printf("  uplink   host: the internet through NAT; nothing new in; not the host itself, nor any\n"
		       "           private, shared, link-local or multicast address\n");
	else
		printf("  uplink   none: its clients reach the provider only\n");
	printf("  clients  ");
	for (size_t i = 0; i < cfg->n_instances; i++) {
		const struct sp_instance *c = &cfg->instances[i];
		char addr[16];

		if (!is_client_of(c, inst->name))
			continue;
		sp_net_addr_of(c->net.mac, addr);
		printf("%s%s (%s)", n++ ? ", " : "", c->name, addr);
	}
	printf("%s\n", n ? "" : "none");
}

void sp_cli_net_short(const struct sp_instance *inst, bool connected, char *buf, size_t n)
{
	char addr[16];

	if (inst->provides_net) {
		snprintf(buf, n, "provider%s", inst->uplink == SP_UPLINK_HOST ? "+uplink" : "");
	} else if (inst->net.provider) {
		sp_net_addr_of(inst->net.mac, addr);
		snprintf(buf, n, "%s via %s%s", addr, inst->net.provider, connected ? "" : " (down)");
	} else {
		snprintf(buf, n, "none");
	}
}
