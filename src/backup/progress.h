/* The progress line of a long backup command: on a terminal (stderr),
 * redrawn at most ten times a second; nothing at all otherwise. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct sp_bk_progress {
	bool on;
	const char *verb;          /* "backing up", "restoring", "verifying" */
	uint64_t files, bytes;
	uint64_t total_bytes;      /* 0 when not known */
	struct timespec start, last;
};

/* ON only when stderr is a terminal and QUIET is false. */
void sp_bk_progress_init(struct sp_bk_progress *p, const char *verb, bool quiet);
void sp_bk_progress_add(struct sp_bk_progress *p, uint64_t files, uint64_t bytes);
/* Clears the line. */
void sp_bk_progress_done(struct sp_bk_progress *p);
/* Seconds since init. */
double sp_bk_progress_elapsed(const struct sp_bk_progress *p);
