/* A snapshot: when, of what, and its root tree.  Stored as one sealed
 * JSON file in snapshots/; this file does its JSON and the choice of
 * which snapshots `prune` keeps. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/crypto.h"
#include "util/err.h"

struct sp_bk_snapshot {
	char id[2 * SP_BK_ID_LEN + 1]; /* its file name; "" until stored */
	int64_t time;                  /* seconds since the epoch, UTC */
	uint32_t time_nsec;
	char *host;
	char *source;                  /* the store directory it was taken from */
	uint8_t tree[SP_BK_ID_LEN];    /* root tree */
	bool full;                     /* whole store, or only INSTANCES */
	char **instances;              /* NULL-terminated; the state/NAME it holds (all, when full) */
	char *parent;                  /* id of the snapshot whose metadata was reused, or NULL */
	uint64_t files, dirs, bytes;   /* in the snapshot */
	uint64_t added_bytes;          /* stored for the first time by it (after compression) */
	/* Entries left out because they could not be read consistently
	 * (changed, vanished, unreadable, too deep): 0 for a complete
	 * snapshot.  SKIPPED_PATHS (NULL or NULL-terminated) names the
	 * first SP_BK_SKIPPED_LIST_MAX of them, as shown in messages. */
	uint64_t skipped;
	char **skipped_paths;
};

#define SP_BK_SKIPPED_LIST_MAX 100

/* JSON text of S (without its id), NUL-terminated, malloc'ed. */
int sp_bk_snapshot_encode(const struct sp_bk_snapshot *s, char **json, size_t *len, struct sp_err *err);

/* Reads JSON (LEN bytes, not necessarily terminated) into S; ID is the
 * file name it came from.  Unknown keys are ignored (a newer minor
 * version may add some); missing or mistyped ones are errors. */
int sp_bk_snapshot_decode(const char *id, const char *json, size_t len, struct sp_bk_snapshot *s,
			  struct sp_err *err);

void sp_bk_snapshot_free(struct sp_bk_snapshot *s);

/* Sorts by time, oldest first (then by id). */
void sp_bk_snapshots_sort(struct sp_bk_snapshot *s, size_t n);

struct sp_bk_keep_policy {
	unsigned last, hourly, daily, weekly, monthly, yearly; /* 0: not used */
};

/* Sets KEEP[i] for each of the N snapshots (sorted, oldest first) that
 * POLICY keeps, as restic's and borg's "forget" do: the newest N; and for
 * each of the newest N hours/days/weeks/months/years (local time) that
 * has snapshots, the newest of that period.  A policy with every count 0
 * keeps everything (prune refuses it before that). */
void sp_bk_keep_select(const struct sp_bk_snapshot *s, size_t n, const struct sp_bk_keep_policy *policy,
		       bool *keep);
