/* The one place in the backup library that writes to stderr: a line that
 * only a person at a terminal sees, never part of any result. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backup/progress.h"

#define INTERVAL_NS 100000000LL /* 100 ms */

static int64_t ns_between(const struct timespec *a, const struct timespec *b)
{
	return ((int64_t)b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/* Three significant digits: "812 B", "1.23 GiB", "98.7 MiB". */
static void human(double v, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%.0f B", v);
	else if (v < 9.995)
		snprintf(out, size, "%.2f %s", v, units[u]);
	else if (v < 99.95)
		snprintf(out, size, "%.1f %s", v, units[u]);
	else
		snprintf(out, size, "%.0f %s", v, units[u]);
}

void sp_bk_progress_init(struct sp_bk_progress *p, const char *verb, bool quiet)
{
	memset(p, 0, sizeof *p);
	p->verb = verb;
	p->on = !quiet && isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

static bool printed(const struct sp_bk_progress *p)
{
	/* The monotonic clock is never at zero once the system runs. */
	return p->last.tv_sec != 0 || p->last.tv_nsec != 0;
}

static void draw(struct sp_bk_progress *p, const struct timespec *now)
{
	char line[256], done[32], rate[32];
	double secs = (double)ns_between(&p->start, now) / 1e9;
	int n;

	human((double)p->bytes, done, sizeof done);
	human(secs > 0 ? (double)p->bytes / secs : 0, rate, sizeof rate);
	n = snprintf(line, sizeof line, "\r\033[K%s: %s, %llu files, %s/s", p->verb ? p->verb : "working", done,
		     (unsigned long long)p->files, rate);
	if (n > 0 && (size_t)n < sizeof line && p->total_bytes > 0) {
		/* The total is an estimate taken before: never beyond 100. */
		double pct = p->bytes >= p->total_bytes ? 100 : (double)p->bytes * 100 / (double)p->total_bytes;

		n += snprintf(line + n, sizeof line - (size_t)n, " %d%%", (int)pct);
	}
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	/* One write per line, so that the terminal never shows half of one;
	 * a failed write only loses a redraw. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
	p->last = *now;
}

void sp_bk_progress_add(struct sp_bk_progress *p, uint64_t files, uint64_t bytes)
{
	struct timespec now;

	if (!p)
		return;
	p->files += files;
	p->bytes += bytes;
	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* The first line waits as long as the others, so that its rate
	 * has some time to average over. */
	if (ns_between(printed(p) ? &p->last : &p->start, &now) < INTERVAL_NS)
		return;
	draw(p, &now);
}

void sp_bk_progress_done(struct sp_bk_progress *p)
{
	static const char clear[] = "\r\033[K";

	if (!p || !p->on || !printed(p))
		return;
	if (write(STDERR_FILENO, clear, sizeof clear - 1) < 0)
		return;
	p->last.tv_sec = 0;
	p->last.tv_nsec = 0;
}

double sp_bk_progress_elapsed(const struct sp_bk_progress *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)ns_between(&p->start, &now) / 1e9;
}
