#include "net/rules.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"
#include "util/cleanup.h"
#include "util/strv.h"

/* The text of an open_memstream, or NULL when writing it failed. */
static char *finish(FILE *f, char **buf)
{
	/* The buffer is only known once the stream is closed. */
	if (fclose(f) != 0) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

char *sp_nft_provider(const struct sp_plan_net *net)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"table inet spectrum {\n"
		/* Each client adds "itself . a peer" for each of its peers. */
		"\tset peers {\n"
		"\t\ttype ipv4_addr . ipv4_addr\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority 0; policy accept;\n"
		/* The bridge's ports are isolated: clients meet only through
		 * the provider's routing, and only declared peers (a forged
		 * ICMP error would otherwise pass as "related"). */
		"\t\tiifname \"%s\" oifname \"%s\" ip saddr . ip daddr != @peers drop\n"
		"\t\tiifname \"%s\" oifname \"%s\" accept\n"
		"\t\toifname \"%s\" ct state established,related accept\n"
		"\t\toifname \"%s\" drop\n"
		"\t}\n",
		SP_NET_BRIDGE, SP_NET_BRIDGE, SP_NET_BRIDGE, SP_NET_BRIDGE, SP_NET_BRIDGE, SP_NET_BRIDGE);
	if (net->uplink == SP_UPLINK_HOST)
		fprintf(f,
			"\tchain postrouting {\n"
			"\t\ttype nat hook postrouting priority 100; policy accept;\n"
			"\t\toifname \"%s\" masquerade\n"
			"\t}\n",
			SP_NET_UPLINK);
	fputs("}\n", f);
	return finish(f, &buf);
}

static void allow_rule(FILE *f, const char *addr, const struct sp_net_allow *a)
{
	static const char *const proto[] = { "tcp", "udp", "icmp" };

	fprintf(f, "\t\tip saddr %s", addr);
	if (a->prefix) {
		struct in_addr in = { htonl(a->addr) };
		char text[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &in, text, sizeof text);
		fprintf(f, " ip daddr %s/%u", text, a->prefix);
	}
	if (a->proto == SP_NET_ICMP)
		fputs(" meta l4proto icmp", f);
	else if (a->port_lo == 1 && a->port_hi == 65535)
		fprintf(f, " meta l4proto %s", proto[a->proto]);
	else if (a->port_lo == a->port_hi)
		fprintf(f, " %s dport %u", proto[a->proto], a->port_lo);
	else
		fprintf(f, " %s dport %u-%u", proto[a->proto], a->port_lo, a->port_hi);
	fputs(" accept\n", f);
}

/* VERB ("add", "delete") the elements "its address . a peer's" of the
 * provider's set of peers. */
static void peer_elements(FILE *f, const char *verb, const struct sp_plan_net *net)
{
	if (net->n_peers == 0)
		return;
	fprintf(f, "%s element inet spectrum peers {", verb);
	for (size_t i = 0; i < net->n_peers; i++)
		fprintf(f, "%s %s . %s", i ? "," : "", net->addr, net->peers[i].addr);
	fputs(" }\n", f);
}

char *sp_nft_client(const struct sp_plan_net *net)
{
	const char *p = net->port, *a = net->addr, *m = net->mac_text;
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"table bridge spectrum-%s {\n"
		"\tchain prerouting {\n"
		"\t\ttype filter hook prerouting priority -200; policy accept;\n"
		"\t\tiifname \"%s\" ether saddr != %s drop\n"
		"\t\tiifname \"%s\" ether type != { ip, arp } drop\n"
		"\t\tiifname \"%s\" ether type ip ip saddr != %s drop\n"
		"\t\tiifname \"%s\" ether type arp arp saddr ip != %s drop\n"
		"\t\tiifname \"%s\" ether type arp arp saddr ether != %s drop\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority 0; policy accept;\n",
		p, p, m, p, p, a, p, a, p, m);
	/* Its port is isolated, so the bridge forwards none of its frames
	 * to another client's port (peers meet through the provider's
	 * routing); this says the same again. */
	fprintf(f, "\t\tiifname \"%s\" drop\n", p);
	fprintf(f,
		"\t}\n"
		"}\n"
		"table inet spectrum-%s {\n"
		"\tchain prerouting {\n"
		"\t\ttype filter hook prerouting priority -150; policy accept;\n"
		/* Its share of the provider's (and, through the uplink, the
		 * host's) connection tracking. */
		"\t\tiifname \"%s\" ip saddr %s ct state new ct count over %u drop\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority 0; policy accept;\n",
		p, SP_NET_BRIDGE, a, SP_NET_CONN_MAX);
	if (net->n_peers && !net->allow_any) {
		/* Its peers are no egress. */
		fprintf(f, "\t\toifname \"%s\" ip saddr %s ip daddr {", SP_NET_BRIDGE, a);
		for (size_t i = 0; i < net->n_peers; i++)
			fprintf(f, "%s %s", i ? "," : "", net->peers[i].addr);
		fputs(" } accept\n", f);
	}
	if (!net->allow_any) {
		/* Of its own connections only: an ICMP error it forges about
		 * someone else's is "related" too. */
		fprintf(f, "\t\tip saddr %s ct original ip saddr %s ct state established,related accept\n", a, a);
		for (size_t i = 0; i < net->n_allow; i++)
			allow_rule(f, a, &net->allow[i]);
		fprintf(f, "\t\tip saddr %s drop\n", a);
	}
	fputs("\t}\n}\n", f);
	peer_elements(f, "add", net);
	return finish(f, &buf);
}

char *sp_nft_client_remove(const struct sp_plan_net *net)
{
	cleanup_free char *table = sp_printf("spectrum-%s", net->port);
	cleanup_free char *tables = table ? sp_nft_delete("bridge inet", table) : NULL;
	char *buf = NULL;
	size_t len;
	FILE *f;

	if (!tables)
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs(tables, f);
	/* "add" first, as for tables: deleting what is not there fails. */
	peer_elements(f, "add", net);
	peer_elements(f, "delete", net);
	return finish(f, &buf);
}

/* Where an uplink does not go: the host's own and private networks
 * (RFC 1918, CGNAT and so other providers' uplinks, link-local and cloud
 * metadata, loopback, benchmarking, multicast and reserved). */
#define UPLINK_DENIED SP_NET_UPLINK_DENIED

char *sp_nft_uplink(const char *table, const char *link, const char *subnet)
{
	return sp_printf("table ip %s {\n"
			 "\tchain postrouting {\n"
			 "\t\ttype nat hook postrouting priority 100; policy accept;\n"
			 "\t\tip saddr %s oifname != \"%s\" masquerade\n"
			 "\t}\n"
			 "\tchain forward {\n"
			 "\t\ttype filter hook forward priority 0; policy accept;\n"
			 "\t\tiifname \"%s\" ip daddr { " UPLINK_DENIED " } drop\n"
			 "\t\toifname \"%s\" ct state established,related accept\n"
			 "\t\toifname \"%s\" drop\n"
			 "\t}\n"
			 "\tchain input {\n"
			 "\t\ttype filter hook input priority 0; policy accept;\n"
			 "\t\tiifname \"%s\" ct state established,related accept\n"
			 "\t\tiifname \"%s\" drop\n"
			 "\t}\n"
			 "}\n",
			 table, subnet, link, link, link, link, link, link);
}

char *sp_nft_forward_guard(void)
{
	return sp_printf("table ip " SP_NFT_GUARD " {\n"
			 "\tchain forward {\n"
			 "\t\ttype filter hook forward priority 0; policy accept;\n"
			 "\t\tiifname != \"spu-*\" oifname != \"spu-*\" drop\n"
			 "\t}\n"
			 "}\n");
}

static char *per_family(const char *families, const char *name, bool fresh)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	char fam[16];
	int n;

	if (!f)
		return NULL;
	for (const char *p = families; sscanf(p, "%15s%n", fam, &n) == 1; p += n) {
		if (fresh)
			fprintf(f, "table %s %s {}\nflush table %s %s\n", fam, name, fam, name);
		else /* "add" first: deleting a table that is not there is an
		      * error, and nftables 1.0.6 has no "destroy". */
			fprintf(f, "add table %s %s\ndelete table %s %s\n", fam, name, fam, name);
	}
	return finish(f, &buf);
}

char *sp_nft_fresh(const char *families, const char *name)
{
	return per_family(families, name, true);
}

char *sp_nft_delete(const char *families, const char *name)
{
	return per_family(families, name, false);
}
