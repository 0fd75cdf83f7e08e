#include "net/nft.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <string.h>

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

int sp_nft_run(const char *what, const char *script, struct sp_err *err)
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
	}
	if (n_closers == CLOSERS_MAX || pthread_create(&closers[n_closers], NULL, close_ctx, nft) != 0)
		nft_ctx_free(nft);
	else
		n_closers++;
	return ret;
}
