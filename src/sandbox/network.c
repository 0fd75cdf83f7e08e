#include "sandbox/network.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "net/attach.h"
#include "net/netns.h"
#include "net/nft.h"
#include "sandbox/engine.h"
#include "sandbox/join.h"
#include "util/cleanup.h"

static void state_path(const struct sp_engine_net *n, char *buf, size_t size)
{
	snprintf(buf, size, "%s/" SP_RUNTIME_INSTANCES "/%s/" SP_RUNTIME_NET, n->store->run_dir, n->plan->name);
}

/* Records the provider the client is linked to (0: none), atomically. */
static void record(struct sp_engine_net *n, pid_t provider)
{
	char path[4200], tmp[4300];
	FILE *f;

	n->provider = provider;
	state_path(n, path, sizeof path);
	if (!provider) {
		unlink(path);
		return;
	}
	snprintf(tmp, sizeof tmp, "%s.new", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%d\n", (int)provider);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

/* Links the client to the provider T runs. */
static int link_client(struct sp_engine_net *n, const struct sp_join_target *t, struct sp_err *err)
{
	cleanup_fd int own = -1;
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/ns/net", (int)n->child);
	own = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0)
		return sp_fail_errno(err, errno, "open %s", path);
	if (!n->has_sock) {
		/* A socket in the client's namespace, kept: each second it
		 * asks whether eth0 (hence its port) is still there. */
		int saved;

		if (sp_netns_enter(own, &saved, err) < 0)
			return -1;
		n->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		sp_netns_leave(saved);
		n->has_sock = n->sock >= 0;
	}
	if (sp_net_client_up(n->plan, t->ns[SP_JOIN_NET], own, n->child, n->host_gid, err) < 0)
		return -1;
	record(n, t->pid);
	return 0;
}

int sp_engine_net_up(struct sp_engine_net *n, struct sp_err *err)
{
	const struct sp_plan *plan = n->plan;
	struct sp_join_target provider;
	cleanup_fd int own = -1;
	char path[64];
	int r;

	n->timer = -1;
	if (plan->net.role == SP_NET_ROLE_PROVIDER) {
		snprintf(path, sizeof path, "/proc/%d/ns/net", (int)n->child);
		own = open(path, O_RDONLY | O_CLOEXEC);
		if (own < 0)
			return sp_fail_errno(err, errno, "open %s", path);
		/* Held, here and by the janitor: the namespace outlives the
		 * provider's processes until sp_engine_net_down has cut its
		 * clients apart, whichever of us does it. */
		if (n->janitor && sp_janitor_hold(n->janitor, own, err) < 0)
			return -1;
		n->netns = own;
		n->has_netns = true;
		own = -1;
		return sp_net_provider_up(plan, n->netns, err);
	}
	if (plan->net.role != SP_NET_ROLE_CLIENT)
		return 0;
	if (sp_join_find(n->store, plan->net.provider, &provider, err) < 0)
		return sp_fail(err, SP_ERR_RUNTIME, "its net provider %s is not running (spectrum start %s)",
			       plan->net.provider, plan->net.provider);
	r = link_client(n, &provider, err);
	sp_join_close(&provider);
	return r;
}

int sp_engine_net_timer(struct sp_engine_net *n)
{
	struct itimerspec every = { { 1, 0 }, { 1, 0 } };

	if (n->plan->net.role == SP_NET_ROLE_PROVIDER && n->plan->net.uplink == SP_UPLINK_HOST) {
		/* Not once a second: the moment after a flush, before the
		 * tables are back, the host is open to the provider. */
		n->timer = sp_nft_watch();
		if (n->timer >= 0)
			return n->timer;
	} else if (n->plan->net.role != SP_NET_ROLE_CLIENT) {
		return -1;
	}
	n->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (n->timer >= 0 && timerfd_settime(n->timer, 0, &every, NULL) < 0) {
		close(n->timer);
		n->timer = -1;
	}
	return n->timer;
}

/* Whether the client's eth0 is there: gone, its port is gone too (a veth
 * pair goes as one), whoever removed it. */
static bool link_there(const struct sp_engine_net *n)
{
	struct ifreq ifr = { .ifr_name = "eth0" };

	return !n->has_sock || ioctl(n->sock, SIOCGIFINDEX, &ifr) == 0 || errno != ENODEV;
}

/* A host firewall reload removes the host's tables of an uplink: put
 * back within a second, or the uplink is cut. */
static void provider_tick(struct sp_engine_net *n)
{
	struct sp_err err = { 0 };
	int r = sp_net_provider_check(n->plan, &err);

	/* To the instance's log. */
	if (r == 1)
		fprintf(stderr, "spectrum: %s: the host's tables of its uplink were removed: restored\n",
			n->plan->name);
	else if (r < 0 && !n->said)
		fprintf(stderr, "spectrum: %s: the host's tables of its uplink were removed: uplink cut: %s\n",
			n->plan->name, err.msg);
	n->said = r < 0;
}

/* A provider's restart takes its clients' links with its namespace: the
 * client is linked again to the new one, with the same MAC, address and
 * rules, the way Qubes reconnects a qube to a restarted netvm.  So is a
 * client whose link has gone while its provider runs. */
void sp_engine_net_tick(struct sp_engine_net *n)
{
	struct sp_join_target provider;
	struct sp_err err = { 0 };
	uint64_t ticks;
	bool there;

	if (n->plan->net.role == SP_NET_ROLE_PROVIDER) {
		sp_nft_watch_drain(n->timer); /* a timerfd's count, or the changes */
		provider_tick(n);
		return;
	}
	if (read(n->timer, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
		return;
	/* Each second: one small read and one ioctl while nothing changed. */
	there = link_there(n);
	if (n->provider && there && sp_join_pid(n->store, n->plan->net.provider) == n->provider &&
	    kill(n->provider, 0) == 0)
		return;
	if (!there && n->provider)
		record(n, 0); /* its link went: linked again below */
	if (sp_join_find(n->store, n->plan->net.provider, &provider, &err) < 0) {
		if (n->provider)
			record(n, 0); /* gone: its links went with it */
		return;
	}
	if (provider.pid != n->provider) {
		if (link_client(n, &provider, &err) == 0) {
			n->said = false;
		} else if (!n->said) {
			/* To the instance's log; tried again each second. */
			fprintf(stderr, "spectrum: %s: relink to %s: %s\n", n->plan->name, n->plan->net.provider,
				err.msg);
			n->said = true;
		}
	}
	sp_join_close(&provider);
}

void sp_engine_net_down(const void *arg)
{
	const struct sp_engine_net *n = arg;
	struct sp_join_target provider;
	struct sp_err ignored = { 0 };
	char path[4200];

	if (n->plan->net.role == SP_NET_ROLE_PROVIDER) {
		int held = n->janitor ? sp_janitor_held(n->janitor) : -1;

		/* Clients apart first, while the namespace is still held. */
		sp_net_provider_cut(n->has_netns ? n->netns : held);
		sp_net_provider_down(n->plan);
		/* Let it go now (its clients' ports go with it). */
		if (n->has_netns)
			close(n->netns);
	} else if (n->plan->net.role == SP_NET_ROLE_CLIENT) {
		state_path(n, path, sizeof path);
		unlink(path);
		if (sp_join_find(n->store, n->plan->net.provider, &provider, &ignored) == 0) {
			sp_net_client_down(n->plan, provider.ns[SP_JOIN_NET]);
			sp_join_close(&provider);
		}
	}
}

void sp_engine_net_close(struct sp_engine_net *n)
{
	if (n->timer >= 0)
		close(n->timer);
	n->timer = -1;
	if (n->has_sock)
		close(n->sock);
	n->has_sock = false;
}
