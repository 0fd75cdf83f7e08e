/* The netlink operations of src/net, one per invocation, in the network
 * namespace it runs in: tests/integration/net-link.sh drives it inside
 * namespaces it made, and checks the result with iproute2. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/addr.h"
#include "net/netlink.h"

static int usage(void)
{
	fputs("usage: nettool veth NAME PEER [NETNS-PATH] | bridge NAME | master NAME BRIDGE | netns NAME NETNS-PATH\n"
	      "     | mac NAME MAC | up NAME | down NAME | addr NAME A.B.C.D/N | route GATEWAY | del NAME\n"
	      "     | macfor NAME... (the MAC and address each gets, as one provider's clients)\n"
	      "     | isolate NAME | alias NAME TEXT | links (each: NAME ALIAS)\n"
	      "     | rule add|del IIF SRC/LEN DST/LEN PRIORITY lookup|prohibit\n"
	      "     | collide mac|addr MAC (a name whose first MAC is MAC, or has MAC's address but not its MAC)\n",
	      stderr);
	return 2;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static void print_link(void *arg, const char *name, const char *alias)
{
	(void)arg;
	printf("%s %s\n", name, alias[0] ? alias : "-");
}

/* "A.B.C.D/N" */
static int parse_prefix(const char *s, struct in_addr *in, unsigned *len)
{
	char a[32], *slash;

	snprintf(a, sizeof a, "%s", s);
	slash = strchr(a, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	*len = (unsigned)atoi(slash + 1);
	return inet_pton(AF_INET, a, in) == 1 && *len <= 32 ? 0 : -1;
}

/* Brute force, as an attacker would: names "x0", "x1", ... until one's
 * MAC at attempt 0 is TARGET (SAME_MAC), or differs from it but gives the
 * same address (its last two bytes).  About 2^24 names at most. */
static int collide(bool same_mac, const char *target)
{
	uint8_t want[6], mac[6];
	char name[32];

	if (parse_mac(target, want) < 0)
		return usage();
	for (unsigned i = 0; i < (1u << 28); i++) {
		snprintf(name, sizeof name, "x%u", i);
		sp_net_mac_for(name, 0, mac);
		if (mac[4] != want[4] || mac[5] != want[5] || (mac[3] == want[3]) != same_mac)
			continue;
		puts(name);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct sp_nl *nl = NULL;
	struct sp_err err = { 0 };
	int rc = -1, fd = -1;

	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "macfor") == 0) {
		uint8_t (*macs)[6] = calloc((size_t)argc, 6);

		if (macs == NULL || sp_net_assign(argv + 2, (size_t)argc - 2, macs) < 0)
			return 1;
		for (int i = 2; i < argc; i++) {
			char m[18], a[16];

			sp_net_mac_text(macs[i - 2], m);
			sp_net_addr_of(macs[i - 2], a);
			printf("%s %s %s\n", argv[i], m, a);
		}
		free(macs);
		return 0;
	}
	if (strcmp(argv[1], "collide") == 0 && argc == 4)
		return collide(strcmp(argv[2], "mac") == 0, argv[3]);
	if (sp_nl_open(&nl, &err) < 0)
		goto out;
	if (strcmp(argv[1], "veth") == 0 && (argc == 4 || argc == 5)) {
		if (argc == 5 && (fd = open(argv[4], O_RDONLY | O_CLOEXEC)) < 0) {
			perror(argv[4]);
			goto out;
		}
		rc = sp_nl_veth_add(nl, argv[2], argv[3], fd, &err);
	} else if (strcmp(argv[1], "bridge") == 0 && argc == 3) {
		rc = sp_nl_bridge_add(nl, argv[2], &err);
	} else if (strcmp(argv[1], "master") == 0 && argc == 4) {
		rc = sp_nl_link_set_master(nl, argv[2], argv[3], &err);
	} else if (strcmp(argv[1], "netns") == 0 && argc == 4) {
		if ((fd = open(argv[3], O_RDONLY | O_CLOEXEC)) < 0) {
			perror(argv[3]);
			goto out;
		}
		rc = sp_nl_link_set_netns(nl, argv[2], fd, &err);
	} else if (strcmp(argv[1], "mac") == 0 && argc == 4) {
		uint8_t mac[6];

		if (parse_mac(argv[3], mac) < 0)
			return usage();
		rc = sp_nl_link_set_mac(nl, argv[2], mac, &err);
	} else if ((strcmp(argv[1], "up") == 0 || strcmp(argv[1], "down") == 0) && argc == 3) {
		rc = sp_nl_link_set_up(nl, argv[2], argv[1][0] == 'u', &err);
	} else if (strcmp(argv[1], "addr") == 0 && argc == 4) {
		char a[32], *slash;
		struct in_addr in;

		snprintf(a, sizeof a, "%s", argv[3]);
		slash = strchr(a, '/');
		if (slash == NULL)
			return usage();
		*slash = '\0';
		if (inet_pton(AF_INET, a, &in) != 1)
			return usage();
		rc = sp_nl_addr_add(nl, argv[2], in, (unsigned)atoi(slash + 1), &err);
	} else if (strcmp(argv[1], "route") == 0 && argc == 3) {
		struct in_addr in;

		if (inet_pton(AF_INET, argv[2], &in) != 1)
			return usage();
		rc = sp_nl_route_default(nl, in, &err);
	} else if (strcmp(argv[1], "isolate") == 0 && argc == 3) {
		rc = sp_nl_port_isolate(nl, argv[2], &err);
	} else if (strcmp(argv[1], "alias") == 0 && argc == 4) {
		rc = sp_nl_link_set_alias(nl, argv[2], argv[3], &err);
	} else if (strcmp(argv[1], "links") == 0 && argc == 2) {
		rc = sp_nl_links(nl, print_link, NULL, &err);
	} else if (strcmp(argv[1], "rule") == 0 && argc == 8) {
		struct sp_nl_rule r = { .iif = argv[3], .priority = (uint32_t)atoi(argv[6]),
					.prohibit = strcmp(argv[7], "prohibit") == 0 };

		if (parse_prefix(argv[4], &r.src, &r.src_len) < 0 || parse_prefix(argv[5], &r.dst, &r.dst_len) < 0)
			return usage();
		rc = sp_nl_rule(nl, strcmp(argv[2], "add") == 0, &r, &err);
	} else if (strcmp(argv[1], "del") == 0 && argc == 3) {
		rc = sp_nl_link_del(nl, argv[2], &err);
	} else {
		sp_nl_close(nl);
		return usage();
	}
out:
	if (rc < 0)
		fprintf(stderr, "nettool: %s\n", err.msg[0] ? err.msg : "failed");
	if (fd >= 0)
		close(fd);
	sp_nl_close(nl);
	return rc < 0 ? 1 : 0;
}
