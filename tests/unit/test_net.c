/* Compartment addresses (src/net/addr.c): OUI, address from the MAC,
 * collisions resolved the same way whatever the order of the names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/addr.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assign_unique),
		cmocka_unit_test(test_assign_order_free),
		cmocka_unit_test(test_mac_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
