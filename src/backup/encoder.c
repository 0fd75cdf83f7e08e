#include "backup/encoder.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "backup/pack.h"

#define THREADS 2
/* Blobs in flight: enough to keep the threads busy, few enough that the
 * copies (up to 2 MiB each) stay small. */
#define QUEUE 8

enum job_state { FREE, QUEUED, BUSY, DONE };

struct job {
	enum job_state state;
	uint64_t seq;
	uint8_t type;
	uint8_t id[SP_BK_ID_LEN];
	uint8_t *plain, *stored;
	size_t len, stored_len;
	bool failed;
	struct sp_err err;
};

struct sp_bk_encoder {
	struct sp_bk_keys keys;
	pthread_t threads[THREADS];
	size_t n_threads;
	pthread_mutex_t lock;
	pthread_cond_t queued, done;
	struct job jobs[QUEUE];
	uint64_t next_seq;
	bool stop;
};

static void *run(void *arg)
{
	struct sp_bk_encoder *e = arg;
	ZSTD_CCtx *zc = ZSTD_createCCtx();

	pthread_mutex_lock(&e->lock);
	for (;;) {
		struct job *j = NULL;
		struct sp_err err;
		uint8_t *stored = NULL;
		size_t slen = 0;
		int rc;

		for (size_t i = 0; i < QUEUE; i++) {
			if (e->jobs[i].state == QUEUED && (j == NULL || e->jobs[i].seq < j->seq))
				j = &e->jobs[i];
		}
		if (j == NULL) {
			if (e->stop)
				break;
			pthread_cond_wait(&e->queued, &e->lock);
			continue;
		}
		j->state = BUSY;
		pthread_mutex_unlock(&e->lock);
		sp_err_clear(&err);
		if (zc == NULL)
			rc = sp_fail_errno(&err, ENOMEM, "zstd");
		else
			rc = sp_bk_blob_encode(&e->keys, zc, j->type, j->id, j->plain, j->len, &stored, &slen, &err);
		pthread_mutex_lock(&e->lock);
		free(j->plain);
		j->plain = NULL;
		j->stored = stored;
		j->stored_len = slen;
		j->failed = rc < 0;
		j->err = err;
		j->state = DONE;
		pthread_cond_broadcast(&e->done);
	}
	pthread_mutex_unlock(&e->lock);
	ZSTD_freeCCtx(zc);
	return NULL;
}

struct sp_bk_encoder *sp_bk_encoder_start(const struct sp_bk_keys *keys)
{
	struct sp_bk_encoder *e = calloc(1, sizeof *e);

	if (e == NULL)
		return NULL;
	e->keys = *keys;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->queued, NULL);
	pthread_cond_init(&e->done, NULL);
	while (e->n_threads < THREADS && pthread_create(&e->threads[e->n_threads], NULL, run, e) == 0)
		e->n_threads++;
	if (e->n_threads == 0) {
		sp_bk_encoder_stop(e);
		return NULL;
	}
	return e;
}

static struct job *find(struct sp_bk_encoder *e, enum job_state state)
{
	for (size_t i = 0; i < QUEUE; i++) {
		if (e->jobs[i].state == state)
			return &e->jobs[i];
	}
	return NULL;
}

int sp_bk_encoder_submit(struct sp_bk_encoder *e, uint8_t type, const uint8_t id[SP_BK_ID_LEN], const void *plain,
			 size_t len, struct sp_err *err)
{
	uint8_t *copy;
	struct job *j;

	pthread_mutex_lock(&e->lock);
	j = find(e, FREE);
	pthread_mutex_unlock(&e->lock);
	if (j == NULL)
		return 1; /* full: only the caller's take frees a place */
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		return sp_fail_errno(err, ENOMEM, "blob");
	memcpy(copy, plain, len);
	pthread_mutex_lock(&e->lock);
	memset(j, 0, sizeof *j);
	j->state = QUEUED;
	j->seq = e->next_seq++;
	j->type = type;
	memcpy(j->id, id, SP_BK_ID_LEN);
	j->plain = copy;
	j->len = len;
	pthread_cond_signal(&e->queued);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

int sp_bk_encoder_take(struct sp_bk_encoder *e, bool wait, struct sp_bk_encoded *out, struct sp_err *err)
{
	struct job *j;
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		j = find(e, DONE);
		if (j != NULL || !wait || (find(e, QUEUED) == NULL && find(e, BUSY) == NULL))
			break;
		pthread_cond_wait(&e->done, &e->lock);
	}
	if (j != NULL) {
		if (j->failed) {
			*err = j->err;
			ret = -1;
		} else {
			out->type = j->type;
			memcpy(out->id, j->id, SP_BK_ID_LEN);
			out->stored = j->stored;
			out->stored_len = j->stored_len;
			out->raw_len = j->len;
			ret = 1;
		}
		j->stored = NULL;
		j->state = FREE;
		pthread_cond_broadcast(&e->done);
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

void sp_bk_encoder_stop(struct sp_bk_encoder *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_broadcast(&e->queued);
	pthread_mutex_unlock(&e->lock);
	for (size_t i = 0; i < e->n_threads; i++)
		pthread_join(e->threads[i], NULL);
	for (size_t i = 0; i < QUEUE; i++) {
		free(e->jobs[i].plain);
		free(e->jobs[i].stored);
	}
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->queued);
	pthread_cond_destroy(&e->done);
	/* Its own copy of the keys: not left in freed memory. */
	sodium_memzero(&e->keys, sizeof e->keys);
	free(e);
}
