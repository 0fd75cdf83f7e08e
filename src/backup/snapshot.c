/* A snapshot's JSON:
 *
 *   {"time": "2026-11-26T04:30:00.123456789Z", "host": "...",
 *    "source": "/var/lib/spectrum", "tree": "<64 hex digits>",
 *    "full": true, "instances": ["mail", "web"], "parent": "<hex>" or null,
 *    "files": 1, "dirs": 2, "bytes": 3, "added_bytes": 4}
 *
 * and, only in an incomplete snapshot, "skipped": N and "skipped_paths":
 * [at most SP_BK_SKIPPED_LIST_MAX texts]; a snapshot without them (every
 * older one) is complete.
 *
 * and which snapshots `prune` keeps. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "backup/snapshot.h"
#include "util/json.h"
#include "util/strv.h"

#define INSTANCE_NAME_MAX 63

/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" is 30 bytes; room for what the
 * compiler thinks int fields could print. */
#define TIME_BUF 96

static int format_time(int64_t sec, uint32_t nsec, char out[static TIME_BUF])
{
	time_t t = (time_t)sec;
	struct tm tm;

	if ((int64_t)t != sec || nsec >= 1000000000 || !gmtime_r(&t, &tm))
		return -1;
	/* Four digits, so that the text sorts as the time does and the
	 * parser needs no other form. */
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -1;
	snprintf(out, TIME_BUF, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRIu32 "Z", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nsec);
	return 0;
}

/* N decimal digits at *P into *V; advances *P. */
static int digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

/* The reverse of format_time(); the fraction may have 1 to 9 digits (or
 * none, without the dot), as RFC 3339 allows; only UTC ("Z"). */
static int parse_time(const char *s, int64_t *sec, uint32_t *nsec)
{
	const char *p = s;
	struct tm tm = { 0 }, check;
	int year, mon, mday, hour, min, secs;
	uint32_t frac = 0;
	int frac_digits = 0;
	time_t t;

	if (digits(&p, 4, &year) || expect(&p, '-') || digits(&p, 2, &mon) || expect(&p, '-') ||
	    digits(&p, 2, &mday) || expect(&p, 'T') || digits(&p, 2, &hour) || expect(&p, ':') ||
	    digits(&p, 2, &min) || expect(&p, ':') || digits(&p, 2, &secs))
		return -1;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9' && frac_digits < 9) {
			frac = frac * 10 + (uint32_t)(*p - '0');
			frac_digits++;
			p++;
		}
		if (frac_digits == 0)
			return -1;
		for (int i = frac_digits; i < 9; i++)
			frac *= 10;
	}
	if (expect(&p, 'Z') || *p != '\0')
		return -1;

	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = mday;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = secs;
	t = timegm(&tm);
	/* timegm() normalizes (February 30th becomes March 2nd): a date
	 * that does not come back as written was not a date. */
	if (!gmtime_r(&t, &check) || check.tm_year != year - 1900 || check.tm_mon != mon - 1 ||
	    check.tm_mday != mday || check.tm_hour != hour || check.tm_min != min || check.tm_sec != secs)
		return -1;
	*sec = (int64_t)t;
	*nsec = frac;
	return 0;
}

/* [a-z0-9][a-z0-9-]{0,62}, the names of instances in the store. */
static bool valid_instance_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > INSTANCE_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Sets KEY to V (taking it), or fails saying which key. */
static int set(json_t *obj, const char *key, json_t *v, struct sp_err *err)
{
	if (!v)
		return sp_fail(err, SP_ERR_RUNTIME, "snapshot: %s: cannot be written as JSON (not UTF-8?)", key);
	if (json_object_set_new(obj, key, v) != 0)
		return sp_fail_errno(err, ENOMEM, "snapshot: %s", key);
	return 0;
}

static int set_u64(json_t *obj, const char *key, uint64_t v, struct sp_err *err)
{
	/* JSON numbers in jansson are signed 64-bit. */
	if (v > INT64_MAX)
		return sp_fail(err, SP_ERR_RUNTIME, "snapshot: %s: %" PRIu64 " is too large", key, v);
	return set(obj, key, json_integer((json_int_t)v), err);
}

int sp_bk_snapshot_encode(const struct sp_bk_snapshot *s, char **json, size_t *len, struct sp_err *err)
{
	char when[TIME_BUF];
	char tree[2 * SP_BK_ID_LEN + 1];
	uint8_t parent[SP_BK_ID_LEN];
	json_t *root = json_object(), *list = json_array(), *skipped = json_array();
	int r = -1;

	if (!root || !list || !skipped) {
		sp_fail_errno(err, ENOMEM, "snapshot");
		goto out;
	}
	if (format_time(s->time, s->time_nsec, when) != 0) {
		sp_fail(err, SP_ERR_RUNTIME, "snapshot: time: %" PRId64 ".%09" PRIu32 " out of range", s->time,
			s->time_nsec);
		goto out;
	}
	if (s->parent && sp_bk_unhex(s->parent, parent, sizeof parent) != 0) {
		sp_fail(err, SP_ERR_RUNTIME, "snapshot: parent: not a snapshot id");
		goto out;
	}
	sp_bk_hex(s->tree, SP_BK_ID_LEN, tree);
	for (size_t i = 0; s->instances && s->instances[i]; i++) {
		if (!valid_instance_name(s->instances[i])) {
			sp_fail(err, SP_ERR_RUNTIME, "snapshot: instances: bad instance name \"%s\"",
				s->instances[i]);
			goto out;
		}
		if (json_array_append_new(list, json_string(s->instances[i])) != 0) {
			sp_fail_errno(err, ENOMEM, "snapshot: instances");
			goto out;
		}
	}
	if (set(root, "time", json_string(when), err) || set(root, "host", json_string(s->host ? s->host : ""), err) ||
	    set(root, "source", json_string(s->source ? s->source : ""), err) ||
	    set(root, "tree", json_string(tree), err) || set(root, "full", json_boolean(s->full), err) ||
	    set(root, "instances", json_incref(list), err) ||
	    set(root, "parent", s->parent ? json_string(s->parent) : json_null(), err) ||
	    set_u64(root, "files", s->files, err) || set_u64(root, "dirs", s->dirs, err) ||
	    set_u64(root, "bytes", s->bytes, err) || set_u64(root, "added_bytes", s->added_bytes, err))
		goto out;
	if (s->skipped > 0) {
		for (size_t i = 0; s->skipped_paths && s->skipped_paths[i] && i < SP_BK_SKIPPED_LIST_MAX; i++) {
			if (json_array_append_new(skipped, json_string(s->skipped_paths[i])) != 0) {
				sp_fail(err, SP_ERR_RUNTIME, "snapshot: skipped_paths: cannot be written as JSON (not UTF-8?)");
				goto out;
			}
		}
		if (set_u64(root, "skipped", s->skipped, err) || set(root, "skipped_paths", json_incref(skipped), err))
			goto out;
	}

	*json = json_dumps(root, JSON_COMPACT);
	if (!*json) {
		sp_fail_errno(err, ENOMEM, "snapshot");
		goto out;
	}
	*len = strlen(*json);
	r = 0;
out:
	json_decref(skipped);
	json_decref(list);
	json_decref(root);
	return r;
}

struct decoder {
	const char *id;
	json_t *root;
	struct sp_err *err;
};

static int bad(const struct decoder *d, const char *key, const char *what)
{
	return sp_fail(d->err, SP_ERR_RUNTIME, "snapshot %s: %s: expected %s", d->id, key, what);
}

static int get_string(const struct decoder *d, const char *key, char **out)
{
	const char *s = sp_json_text(json_object_get(d->root, key));

	if (!s)
		return bad(d, key, "a string");
	*out = strdup(s);
	if (!*out)
		return sp_fail_errno(d->err, ENOMEM, "snapshot %s: %s", d->id, key);
	return 0;
}

static int get_id(const struct decoder *d, const char *key, uint8_t out[SP_BK_ID_LEN])
{
	const char *s = sp_json_text(json_object_get(d->root, key));

	if (!s || sp_bk_unhex(s, out, SP_BK_ID_LEN) != 0)
		return bad(d, key, "64 lower-case hex digits");
	return 0;
}

static int get_u64(const struct decoder *d, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(d->root, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad(d, key, "a non-negative integer");
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_instances(const struct decoder *d, char ***out)
{
	json_t *list = json_object_get(d->root, "instances"), *v;
	size_t i;

	if (!json_is_array(list))
		return bad(d, "instances", "an array of instance names");
	/* Never NULL, even when empty. */
	*out = calloc(1, sizeof **out);
	if (!*out)
		return sp_fail_errno(d->err, ENOMEM, "snapshot %s: instances", d->id);
	json_array_foreach(list, i, v) {
		const char *name = sp_json_text(v);

		if (!name || !valid_instance_name(name))
			return bad(d, "instances", "an array of instance names");
		if (sp_strv_contains(*out, name))
			return bad(d, "instances", "each instance once");
		if (sp_strv_push(out, name) != 0)
			return sp_fail_errno(d->err, ENOMEM, "snapshot %s: instances", d->id);
	}
	return 0;
}

/* "skipped" and "skipped_paths": both or neither (a complete snapshot,
 * and every one written before they existed). */
static int get_skipped(const struct decoder *d, uint64_t *n, char ***out)
{
	json_t *list = json_object_get(d->root, "skipped_paths"), *v;
	size_t i;

	*n = 0;
	*out = NULL;
	if (!json_object_get(d->root, "skipped") && !list)
		return 0;
	if (get_u64(d, "skipped", n) < 0)
		return -1;
	if (!json_is_array(list) || json_array_size(list) > SP_BK_SKIPPED_LIST_MAX ||
	    json_array_size(list) > *n)
		return bad(d, "skipped_paths", "an array of at most 100 texts, no more than \"skipped\"");
	*out = calloc(1, sizeof **out);
	if (!*out)
		return sp_fail_errno(d->err, ENOMEM, "snapshot %s: skipped_paths", d->id);
	json_array_foreach(list, i, v) {
		const char *path = sp_json_text(v);

		if (!path)
			return bad(d, "skipped_paths", "an array of texts");
		if (sp_strv_push(out, path) != 0)
			return sp_fail_errno(d->err, ENOMEM, "snapshot %s: skipped_paths", d->id);
	}
	return 0;
}

static int get_parent(const struct decoder *d, char **out)
{
	json_t *v = json_object_get(d->root, "parent");
	const char *s = sp_json_text(v);
	uint8_t raw[SP_BK_ID_LEN];

	if (json_is_null(v)) {
		*out = NULL;
		return 0;
	}
	if (!s || sp_bk_unhex(s, raw, sizeof raw) != 0)
		return bad(d, "parent", "null or 64 lower-case hex digits");
	*out = strdup(s);
	if (!*out)
		return sp_fail_errno(d->err, ENOMEM, "snapshot %s: parent", d->id);
	return 0;
}

int sp_bk_snapshot_decode(const char *id, const char *json, size_t len, struct sp_bk_snapshot *s,
			  struct sp_err *err)
{
	struct sp_bk_snapshot t = { 0 };
	struct decoder d = { .id = id ? id : "", .err = err };
	json_error_t jerr;
	const char *when;
	json_t *full;
	int r = -1;

	memset(s, 0, sizeof *s);
	d.root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!d.root)
		return sp_fail(err, SP_ERR_RUNTIME, "snapshot %s: line %d: %s", d.id, jerr.line, jerr.text);
	if (!json_is_object(d.root)) {
		sp_fail(err, SP_ERR_RUNTIME, "snapshot %s: expected a JSON object", d.id);
		goto out;
	}
	if (strlen(d.id) >= sizeof t.id) {
		sp_fail(err, SP_ERR_RUNTIME, "snapshot %s: name longer than %zu bytes", d.id, sizeof t.id - 1);
		goto out;
	}
	memcpy(t.id, d.id, strlen(d.id) + 1);

	when = sp_json_text(json_object_get(d.root, "time"));
	if (!when || parse_time(when, &t.time, &t.time_nsec) != 0) {
		bad(&d, "time", "an RFC 3339 UTC time (2026-11-26T04:30:00.123456789Z)");
		goto out;
	}
	full = json_object_get(d.root, "full");
	if (!json_is_boolean(full)) {
		bad(&d, "full", "true or false");
		goto out;
	}
	t.full = json_is_true(full);
	if (get_string(&d, "host", &t.host) || get_string(&d, "source", &t.source) ||
	    get_id(&d, "tree", t.tree) || get_instances(&d, &t.instances) || get_parent(&d, &t.parent) ||
	    get_u64(&d, "files", &t.files) || get_u64(&d, "dirs", &t.dirs) || get_u64(&d, "bytes", &t.bytes) ||
	    get_u64(&d, "added_bytes", &t.added_bytes) || get_skipped(&d, &t.skipped, &t.skipped_paths))
		goto out;
	*s = t;
	memset(&t, 0, sizeof t);
	r = 0;
out:
	sp_bk_snapshot_free(&t);
	json_decref(d.root);
	return r;
}

void sp_bk_snapshot_free(struct sp_bk_snapshot *s)
{
	free(s->host);
	free(s->source);
	sp_strv_free(s->instances);
	sp_strv_free(s->skipped_paths);
	free(s->parent);
	s->host = s->source = s->parent = NULL;
	s->instances = NULL;
	s->skipped_paths = NULL;
	s->skipped = 0;
}

static int cmp_snapshot(const void *a, const void *b)
{
	const struct sp_bk_snapshot *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->time_nsec != y->time_nsec)
		return x->time_nsec < y->time_nsec ? -1 : 1;
	return strcmp(x->id, y->id);
}

void sp_bk_snapshots_sort(struct sp_bk_snapshot *s, size_t n)
{
	if (n > 1)
		qsort(s, n, sizeof *s, cmp_snapshot);
}

enum bucket_kind { BUCKET_HOUR, BUCKET_DAY, BUCKET_WEEK, BUCKET_MONTH, BUCKET_YEAR };

/* A number naming the local hour, day, ISO week, month or year of S: two
 * snapshots share it exactly when they share that period. */
static int64_t bucket_of(const struct sp_bk_snapshot *s, enum bucket_kind kind)
{
	time_t t = (time_t)s->time;
	struct tm tm;
	int64_t year, key = 0;
	char week[32];
	char *end;

	/* Only a time beyond the calendar fails; all such share one bucket. */
	if (!localtime_r(&t, &tm))
		memset(&tm, 0, sizeof tm);
	year = (int64_t)tm.tm_year + 1900;
	switch (kind) {
	case BUCKET_HOUR:
		key = ((year * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday) * 100 + tm.tm_hour;
		break;
	case BUCKET_DAY:
		key = (year * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday;
		break;
	case BUCKET_WEEK:
		/* The ISO week-numbering year differs from the calendar year
		 * around the new year (December 30th can be in week 1). */
		if (strftime(week, sizeof week, "%G-%V", &tm) == 0)
			break;
		key = strtoll(week, &end, 10) * 100;
		if (*end == '-')
			key += strtoll(end + 1, NULL, 10);
		break;
	case BUCKET_MONTH:
		key = year * 100 + tm.tm_mon + 1;
		break;
	case BUCKET_YEAR:
		key = year;
		break;
	}
	return key;
}

/* Keeps the newest snapshot of each of the newest COUNT distinct periods
 * of KIND.  False when out of memory. */
static bool keep_buckets(const struct sp_bk_snapshot *s, size_t n, enum bucket_kind kind, unsigned count,
			 bool *keep)
{
	size_t cap = count < n ? count : n, seen = 0;
	int64_t *keys;

	if (count == 0 || n == 0)
		return true;
	keys = malloc(cap * sizeof *keys);
	if (!keys)
		return false;
	for (size_t i = n; i-- > 0;) {
		int64_t key = bucket_of(&s[i], kind);
		bool known = false;

		/* Newest first: a repeated key is most likely the last one. */
		for (size_t j = seen; j-- > 0;)
			if (keys[j] == key) {
				known = true;
				break;
			}
		if (known)
			continue;
		if (seen == cap)
			break;
		keys[seen++] = key;
		keep[i] = true;
	}
	free(keys);
	return true;
}

void sp_bk_keep_select(const struct sp_bk_snapshot *s, size_t n, const struct sp_bk_keep_policy *policy,
		       bool *keep)
{
	const struct {
		enum bucket_kind kind;
		unsigned count;
	} periods[] = {
		{ BUCKET_HOUR, policy->hourly }, { BUCKET_DAY, policy->daily },
		{ BUCKET_WEEK, policy->weekly }, { BUCKET_MONTH, policy->monthly },
		{ BUCKET_YEAR, policy->yearly },
	};
	bool any = policy->last > 0;

	for (size_t i = 0; i < sizeof periods / sizeof periods[0]; i++)
		any = any || periods[i].count > 0;
	for (size_t i = 0; i < n; i++)
		keep[i] = !any;
	if (!any)
		return;

	for (size_t i = 0; i < n && i < policy->last; i++)
		keep[n - 1 - i] = true;
	for (size_t i = 0; i < sizeof periods / sizeof periods[0]; i++)
		if (!keep_buckets(s, n, periods[i].kind, periods[i].count, keep)) {
			/* Keeping too much can be undone by the next prune;
			 * removing too much cannot. */
			for (size_t j = 0; j < n; j++)
				keep[j] = true;
			return;
		}
}
