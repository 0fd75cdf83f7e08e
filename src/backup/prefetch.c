#include "backup/prefetch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/pack.h"

#define SLOTS 64
/* Decoding (BLAKE2b, XChaCha20-Poly1305, zstd) costs more than writing:
 * two threads keep up with one writer on two cores (measured). */
#define THREADS 2
#define WINDOW_BYTES (32u << 20)

enum slot_state { FREE, ASKED, BUSY, DONE };

struct slot {
	enum slot_state state;
	uint64_t seq; /* order of asking: the thread takes the oldest */
	uint8_t id[SP_BK_ID_LEN];
	size_t raw_len;
	uint8_t *plain;
	size_t len;
	bool failed;
	struct sp_err err;
};

struct sp_bk_prefetch {
	struct sp_bk_repo *repo;
	const struct sp_bk_index *idx;
	pthread_t threads[THREADS];
	size_t n_threads;
	pthread_mutex_t lock;
	pthread_cond_t asked, done;
	struct slot slots[SLOTS];
	uint64_t next_seq;
	size_t window; /* raw bytes of the slots not FREE */
	bool stop;
};

static void *run(void *arg)
{
	struct sp_bk_prefetch *p = arg;
	/* Its own open pack: the index's is the caller's. */
	struct sp_bk_reader rd = { .fd = -1 };

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct slot *s = NULL;
		uint8_t *plain = NULL;
		size_t len = 0;
		struct sp_err err;
		uint8_t id[SP_BK_ID_LEN];
		int rc;

		for (size_t i = 0; i < SLOTS; i++) {
			if (p->slots[i].state == ASKED && (s == NULL || p->slots[i].seq < s->seq))
				s = &p->slots[i];
		}
		if (s == NULL) {
			if (p->stop)
				break;
			pthread_cond_wait(&p->asked, &p->lock);
			continue;
		}
		s->state = BUSY;
		memcpy(id, s->id, sizeof id);
		pthread_mutex_unlock(&p->lock);
		sp_err_clear(&err);
		rc = sp_bk_blob_read(p->repo, p->idx, &rd, id, SP_BK_BLOB_DATA, &plain, &len, &err);
		pthread_mutex_lock(&p->lock);
		s->plain = plain;
		s->len = len;
		s->failed = rc < 0;
		s->err = err;
		s->state = DONE;
		pthread_cond_broadcast(&p->done);
		/* Stopping: what is left asked is dropped by stop. */
	}
	pthread_mutex_unlock(&p->lock);
	sp_bk_reader_close(&rd);
	return NULL;
}

struct sp_bk_prefetch *sp_bk_prefetch_start(struct sp_bk_repo *repo, const struct sp_bk_index *idx)
{
	struct sp_bk_prefetch *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->repo = repo;
	p->idx = idx;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->asked, NULL);
	pthread_cond_init(&p->done, NULL);
	while (p->n_threads < THREADS && pthread_create(&p->threads[p->n_threads], NULL, run, p) == 0)
		p->n_threads++;
	if (p->n_threads == 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->asked);
		pthread_cond_destroy(&p->done);
		free(p);
		return NULL;
	}
	return p;
}

bool sp_bk_prefetch_ask(struct sp_bk_prefetch *p, const uint8_t id[SP_BK_ID_LEN], size_t raw_len)
{
	bool ok = false;

	if (p == NULL)
		return false;
	pthread_mutex_lock(&p->lock);
	if (p->window + raw_len <= WINDOW_BYTES) {
		for (size_t i = 0; i < SLOTS; i++) {
			struct slot *s = &p->slots[i];

			if (s->state != FREE)
				continue;
			memset(s, 0, sizeof *s);
			s->state = ASKED;
			s->seq = p->next_seq++;
			memcpy(s->id, id, SP_BK_ID_LEN);
			s->raw_len = raw_len;
			p->window += raw_len;
			pthread_cond_signal(&p->asked);
			ok = true;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

int sp_bk_prefetch_get(struct sp_bk_prefetch *p, struct sp_bk_repo *repo, const struct sp_bk_index *idx,
		       const uint8_t id[SP_BK_ID_LEN], uint8_t **plain, size_t *len, struct sp_err *err)
{
	struct slot *s = NULL;
	int ret = 0;

	if (p != NULL) {
		pthread_mutex_lock(&p->lock);
		/* The oldest ask of this id (one chunk may be in two files). */
		for (size_t i = 0; i < SLOTS; i++) {
			struct slot *t = &p->slots[i];

			if (t->state != FREE && memcmp(t->id, id, SP_BK_ID_LEN) == 0 && (s == NULL || t->seq < s->seq))
				s = t;
		}
		if (s != NULL) {
			while (s->state != DONE)
				pthread_cond_wait(&p->done, &p->lock);
			if (s->failed) {
				*err = s->err;
				ret = -1;
			} else {
				*plain = s->plain;
				*len = s->len;
			}
			s->plain = NULL;
			s->state = FREE;
			p->window -= s->raw_len;
		}
		pthread_mutex_unlock(&p->lock);
		if (s != NULL)
			return ret;
	}
	return sp_bk_blob_load(repo, idx, id, SP_BK_BLOB_DATA, plain, len, err);
}

void sp_bk_prefetch_stop(struct sp_bk_prefetch *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	/* What was asked and not taken is not wanted any more. */
	for (size_t i = 0; i < SLOTS; i++) {
		if (p->slots[i].state == ASKED)
			p->slots[i].state = FREE;
	}
	pthread_cond_broadcast(&p->asked);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	for (size_t i = 0; i < SLOTS; i++)
		free(p->slots[i].plain);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->asked);
	pthread_cond_destroy(&p->done);
	free(p);
}
