#include "net/nft.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CLOSERS_MAX 8

static pthread_t closers[CLOSERS_MAX];
static size_t n_closers;

static void *close_ctx(void *nft)
{
	nft_ctx_free(nft);
	return NULL;
}

void sp_nft_settle(void)
{
	for (size_t i = 0; i < n_closers; i++)
		pthread_join(closers[i], NULL);
	n_closers = 0;
}

/* OUTPUT: where nft's output goes (malloc'ed), or NULL. */
static int run(const char *what, const char *script, char **output, struct sp_err *err)
{
	/* A context per call: its netlink socket belongs to the namespace
	 * the thread is in now, which differs from call to call. */
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	const char *msg;
	int ret = 0;

	if (!nft)
		return sp_fail_errno(err, ENOMEM, "%s: nftables", what);
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	if (nft_run_cmd_from_buffer(nft, script) != 0) {
		msg = nft_ctx_get_error_buffer(nft);
		ret = sp_fail(err, SP_ERR_RUNTIME, "%s: nftables: %.*s", what,
			      msg ? (int)strcspn(msg, "\n") : 0, msg ? msg : "");
	} else if (output) {
		msg = nft_ctx_get_output_buffer(nft);
		*output = strdup(msg ? msg : "");
		if (!*output)
			ret = sp_fail_errno(err, ENOMEM, "%s: nftables", what);
	}
	if (n_closers == CLOSERS_MAX || pthread_create(&closers[n_closers], NULL, close_ctx, nft) != 0)
		nft_ctx_free(nft);
	else
		n_closers++;
	return ret;
}

int sp_nft_run(const char *what, const char *script, struct sp_err *err)
{
	return run(what, script, NULL, err);
}

int sp_nft_query(const char *what, const char *script, char **output, struct sp_err *err)
{
	*output = NULL;
	return run(what, script, output, err);
}

int sp_nft_table_exists(const char *name)
{
	char buf[8192]; /* MNL_SOCKET_BUFFER_SIZE at most (a VLA in libmnl's header) */
	struct mnl_socket *sock = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	struct nlmsghdr *h;
	struct nfgenmsg *g;
	unsigned seq = (unsigned)time(NULL), portid;
	ssize_t n;
	int r = -1;

	if (!sock)
		return -1;
	if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	portid = mnl_socket_get_portid(sock);
	h = mnl_nlmsg_put_header(buf);
	h->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(h, sizeof *g);
	g->nfgen_family = NFPROTO_IPV4;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	mnl_attr_put_strz(h, NFTA_TABLE_NAME, name);
	if (mnl_socket_sendto(sock, h, h->nlmsg_len) < 0)
		goto out;
	do {
		n = mnl_socket_recvfrom(sock, buf, sizeof buf);
		if (n < 0)
			goto out;
		r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
	} while (r > MNL_CB_STOP);
	r = r < 0 ? (errno == ENOENT ? 0 : -1) : 1;
out:
	mnl_socket_close(sock);
	return r;
}

int sp_nft_watch(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1u << (NFNLGRP_NFTABLES - 1) };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void sp_nft_watch_drain(int fd)
{
	char buf[8192];

	/* A timerfd's count too (the fallback).  Bounded: what is left keeps
	 * FD readable for the next round. */
	for (int i = 0; i < 64; i++)
		if (read(fd, buf, sizeof buf) < 0 && errno != ENOBUFS)
			break;
}
