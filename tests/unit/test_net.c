/* Compartment addresses (src/net/addr.c): OUI, address from the MAC,
 * collisions resolved the same way whatever the order of the names; the
 * network keys of a configuration, the plan's link names, and the
 * nftables rules made from them (src/net/rules.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/diff.h"
#include "config/model.h"
#include "net/addr.h"
#include "net/rules.h"
#include "plan/plan-internal.h"

#define N 3000 /* in 65536 addresses: about 70 collisions to resolve */

static char **names(void)
{
	char **v = calloc(N + 1, sizeof *v);

	for (int i = 0; i < N; i++) {
		v[i] = malloc(32);
		snprintf(v[i], 32, "app-%d", i);
	}
	return v;
}

static void free_names(char **v)
{
	for (int i = 0; i < N; i++)
		free(v[i]);
	free(v);
}

static void test_assign_unique(void **state)
{
	char **v = names();
	uint8_t (*macs)[6] = calloc(N, 6);
	uint8_t *seen = calloc(65536, 1);
	int collisions = 0;

	(void)state;
	assert_int_equal(sp_net_assign(v, N, macs), 0);
	for (int i = 0; i < N; i++) {
		unsigned xy = (unsigned)macs[i][4] << 8 | macs[i][5];
		uint8_t first[6];
		char addr[16], want[16];

		assert_memory_equal(macs[i], "\x0a\xb3\xec", 3);
		assert_true(xy != 0 && xy != 1 && xy != 0xffff);
		assert_int_equal(seen[xy], 0);
		seen[xy] = 1;
		sp_net_addr_of(macs[i], addr);
		snprintf(want, sizeof want, "100.64.%u.%u", macs[i][4], macs[i][5]);
		assert_string_equal(addr, want);
		sp_net_mac_for(v[i], 0, first);
		collisions += memcmp(first, macs[i], 6) != 0;
	}
	/* The test is only worth something when collisions happened. */
	assert_true(collisions > 10);
	free(seen);
	free(macs);
	free_names(v);
}

static void test_assign_order_free(void **state)
{
	char **v = names();
	char **r = calloc(N + 1, sizeof *r);
	uint8_t (*a)[6] = calloc(N, 6), (*b)[6] = calloc(N, 6);

	(void)state;
	for (int i = 0; i < N; i++)
		r[i] = v[N - 1 - i];
	assert_int_equal(sp_net_assign(v, N, a), 0);
	assert_int_equal(sp_net_assign(r, N, b), 0);
	for (int i = 0; i < N; i++)
		assert_memory_equal(a[i], b[N - 1 - i], 6);
	free(a);
	free(b);
	free(r);
	free_names(v);
}

static void test_mac_text(void **state)
{
	const uint8_t mac[6] = { 0x0a, 0xb3, 0xec, 0x01, 0x02, 0xff };
	char m[18], a[16];

	(void)state;
	sp_net_mac_text(mac, m);
	sp_net_addr_of(mac, a);
	assert_string_equal(m, "0a:b3:ec:01:02:ff");
	assert_string_equal(a, "100.64.2.255");
}

static const char net_config[] =
	"{\"instances\": {"
	"\"netvm\": {\"software\": [\"host\"], \"command\": [\"sh\"], \"provides\": [\"net\"], \"uplink\": \"host\"},"
	"\"a\": {\"software\": [\"host\"], \"command\": [\"sh\"], \"net\": {\"provider\": \"netvm\", \"allow\": "
	"[\"tcp/443\", \"udp/53\", \"tcp/22@192.0.2.0/24\", \"tcp/1000-2000\", \"icmp@10.0.0.0/8\", \"udp\", "
	"\"tcp/80@198.51.100.7\"]}},"
	"\"b\": {\"software\": [\"host\"], \"command\": [\"sh\"], \"net\": {\"provider\": \"netvm\", \"peers\": [\"c\"]}},"
	"\"c\": {\"software\": [\"host\"], \"command\": [\"sh\"], \"net\": {\"provider\": \"netvm\", \"peers\": [\"b\"]}},"
	"\"d\": {\"software\": [\"host\"], \"command\": [\"sh\"], \"net\": {\"provider\": \"netvm\", \"allow\": []}},"
	"\"e\": {\"software\": [\"host\"], \"command\": [\"sh\"]}"
	"}}";

static const char *const a_rules[] = {
	"tcp/443", "udp/53", "tcp/22@192.0.2.0/24", "tcp/1000-2000", "icmp@10.0.0.0/8", "udp", "tcp/80@198.51.100.7",
};

static void test_config_net(void **state)
{
	struct sp_config cfg;
	struct sp_err err = { 0 };
	const struct sp_instance *a, *b, *c, *d, *e, *p;
	char text[64];

	(void)state;
	assert_int_equal(sp_config_parse(net_config, sizeof net_config - 1, "t.json", &cfg, &err), 0);
	p = sp_config_find(&cfg, "netvm");
	a = sp_config_find(&cfg, "a");
	b = sp_config_find(&cfg, "b");
	c = sp_config_find(&cfg, "c");
	d = sp_config_find(&cfg, "d");
	e = sp_config_find(&cfg, "e");
	assert_true(p->provides_net && p->uplink == SP_UPLINK_HOST && !p->net.provider);
	assert_true(!e->provides_net && !e->net.provider);
	/* MACs: the OUI, all different, a peer's copied from it. */
	const struct sp_instance *clients[] = { a, b, c, d };
	for (int i = 0; i < 4; i++) {
		assert_memory_equal(clients[i]->net.mac, "\x0a\xb3\xec", 3);
		for (int j = 0; j < i; j++)
			assert_memory_not_equal(clients[i]->net.mac, clients[j]->net.mac, 6);
	}
	assert_int_equal(b->net.n_peers, 1);
	assert_memory_equal(b->net.peers[0].mac, c->net.mac, 6);
	assert_memory_equal(c->net.peers[0].mac, b->net.mac, 6);
	/* Egress: as written, and back to the same text. */
	assert_true(b->net.allow_any && !a->net.allow_any && !d->net.allow_any && d->net.n_allow == 0);
	assert_int_equal(a->net.n_allow, 7);
	for (size_t i = 0; i < a->net.n_allow; i++) {
		sp_net_allow_text(&a->net.allow[i], text, sizeof text);
		assert_string_equal(text, a_rules[i]);
	}
	assert_int_equal(a->net.allow[2].proto, SP_NET_TCP);
	assert_int_equal(a->net.allow[2].addr, 0xc0000200u);
	assert_int_equal(a->net.allow[2].prefix, 24);
	assert_int_equal(a->net.allow[3].port_lo, 1000);
	assert_int_equal(a->net.allow[3].port_hi, 2000);
	assert_int_equal(a->net.allow[5].port_lo, 1);
	assert_int_equal(a->net.allow[5].port_hi, 65535);
	sp_config_free(&cfg);
}

/* The plan's names and the rules made from them. */
static void test_plan_rules(void **state)
{
	struct sp_config cfg;
	struct sp_err err = { 0 };
	struct sp_plan pa = { 0 }, pb = { 0 }, pp = { 0 };
	char want[256], *r;

	(void)state;
	assert_int_equal(sp_config_parse(net_config, sizeof net_config - 1, "t.json", &cfg, &err), 0);
	assert_int_equal(sp_plan_net(sp_config_find(&cfg, "a"), &pa), 0);
	assert_int_equal(sp_plan_net(sp_config_find(&cfg, "b"), &pb), 0);
	assert_int_equal(sp_plan_net(sp_config_find(&cfg, "netvm"), &pp), 0);
	assert_int_equal(pa.net.role, SP_NET_ROLE_CLIENT);
	assert_int_equal(pp.net.role, SP_NET_ROLE_PROVIDER);
	snprintf(want, sizeof want, "spc-%02x%02x%02x", pa.net.mac[3], pa.net.mac[4], pa.net.mac[5]);
	assert_string_equal(pa.net.port, want);
	snprintf(want, sizeof want, "100.64.%u.%u", pa.net.mac[4], pa.net.mac[5]);
	assert_string_equal(pa.net.addr, want);
	assert_string_equal(pb.net.peers[0].name, "c");

	/* a: no spoofing, no other client, its policy, then nothing else. */
	r = sp_nft_client(&pa.net);
	assert_non_null(r);
	snprintf(want, sizeof want, "iifname \"%s\" ether saddr != %s drop\n", pa.net.port, pa.net.mac_text);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "iifname \"%s\" ether type ip ip saddr != %s drop\n", pa.net.port, pa.net.addr);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "\t\tiifname \"%s\" drop\n", pa.net.port);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "ip saddr %s ip daddr 192.0.2.0/24 tcp dport 22 accept\n", pa.net.addr);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "ip saddr %s tcp dport 1000-2000 accept\n", pa.net.addr);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "ip saddr %s ip daddr 10.0.0.0/8 meta l4proto icmp accept\n", pa.net.addr);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "ip saddr %s ip daddr 198.51.100.7/32 tcp dport 80 accept\n", pa.net.addr);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "ip saddr %s ct original ip saddr %s ct state established,related accept\n",
		 pa.net.addr, pa.net.addr);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "ip saddr %s drop\n\t}\n}\n", pa.net.addr);
	assert_non_null(strstr(r, want));
	free(r);

	/* b: no port of its own bridges anywhere, even to its peer (whom it
	 * meets through the provider: the pair goes into the provider's
	 * set); no policy; its share of connection tracking. */
	r = sp_nft_client(&pb.net);
	snprintf(want, sizeof want, "\t\tiifname \"%s\" drop\n", pb.net.port);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "add element inet spectrum peers { %s . %s }\n", pb.net.addr,
		 pb.net.peers[0].addr);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "iifname \"sp-clients\" ip saddr %s ct state new ct count over %u drop\n",
		 pb.net.addr, SP_NET_CONN_MAX);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "ip saddr %s drop", pb.net.addr);
	assert_null(strstr(r, want));
	free(r);
	/* Its removal takes the pair out again, present or not. */
	r = sp_nft_client_remove(&pb.net);
	snprintf(want, sizeof want, "add element inet spectrum peers { %s . %s }\ndelete element inet spectrum peers { %s . %s }\n",
		 pb.net.addr, pb.net.peers[0].addr, pb.net.addr, pb.net.peers[0].addr);
	assert_non_null(strstr(r, want));
	snprintf(want, sizeof want, "delete table inet spectrum-%s\n", pb.net.port);
	assert_non_null(strstr(r, want));
	free(r);

	r = sp_nft_provider(&pp.net);
	/* Bridge to bridge through the provider: only declared pairs, and
	 * that before anything "related" is accepted. */
	assert_true(strstr(r, "iifname \"sp-clients\" oifname \"sp-clients\" ip saddr . ip daddr != @peers drop\n") != NULL &&
		    strstr(r, "iifname \"sp-clients\" oifname \"sp-clients\" ip saddr . ip daddr != @peers drop\n") <
			    strstr(r, "oifname \"sp-clients\" ct state established,related accept\n"));
	assert_non_null(strstr(r, "oifname \"uplink0\" masquerade\n"));
	free(r);
	r = sp_nft_delete("bridge inet", "spectrum-x");
	assert_string_equal(r, "add table bridge spectrum-x\ndelete table bridge spectrum-x\n"
			       "add table inet spectrum-x\ndelete table inet spectrum-x\n");
	free(r);
	sp_plan_net_free(&pa.net);
	sp_plan_net_free(&pb.net);
	sp_plan_net_free(&pp.net);
	sp_config_free(&cfg);
}

/* A change anywhere in a long egress policy restarts the instance. */
static void test_diff_long_policy(void **state)
{
	char *texts[2];
	struct sp_config cfg[2];
	struct sp_err err = { 0 };
	struct sp_instance_diff *d;
	size_t n;

	(void)state;
	for (int v = 0; v < 2; v++) {
		char *buf = NULL;
		size_t len;
		FILE *f = open_memstream(&buf, &len);

		fputs("{\"instances\": {\"p\": {\"software\": [\"host\"], \"command\": [\"sh\"], "
		      "\"provides\": [\"net\"]}, \"a\": {\"software\": [\"host\"], \"command\": [\"sh\"], "
		      "\"net\": {\"provider\": \"p\", \"allow\": [", f);
		for (int i = 0; i < 200; i++)
			fprintf(f, "\"tcp/%d@10.%d.0.0/16\", ", 1000 + i, i);
		fprintf(f, "\"udp/%d\"]}}}}", v ? 54 : 53);
		fclose(f);
		texts[v] = buf;
		assert_int_equal(sp_config_parse(buf, len, "t.json", &cfg[v], &err), 0);
	}
	assert_int_equal(sp_config_diff(&cfg[0], &cfg[1], &d, &n, &err), 0);
	/* Both instances are in the diff: "a" changed and restarts, the
	 * provider is the same.  (A diff without "a" would pass a loop that
	 * only looks at the entries it finds.) */
	size_t seen_a = 0, seen_p = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(d[i].name, "a") == 0) {
			seen_a++;
			assert_true(d[i].kind == SP_DIFF_CHANGED && d[i].needs_restart);
		} else if (strcmp(d[i].name, "p") == 0) {
			seen_p++;
			assert_int_equal(d[i].kind, SP_DIFF_SAME);
		}
	}
	assert_int_equal(seen_a, 1);
	assert_int_equal(seen_p, 1);
	sp_config_diff_free(d, n);
	for (int v = 0; v < 2; v++) {
		sp_config_free(&cfg[v]);
		free(texts[v]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assign_unique),
		cmocka_unit_test(test_assign_order_free),
		cmocka_unit_test(test_mac_text),
		cmocka_unit_test(test_config_net),
		cmocka_unit_test(test_plan_rules),
		cmocka_unit_test(test_diff_long_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
