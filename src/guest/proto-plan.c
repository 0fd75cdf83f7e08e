/* The plan the VM engine sends the agent: records parsed with strict
 * validation and encoded as their exact inverse; the contract is
 * proto.h.  libc only, like the rest of src/guest. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/proto.h"

#define TAG_MAX 36      /* QEMU's limit for a virtiofs tag */
#define HOSTNAME_MAX 64 /* HOST_NAME_MAX */
#define ID_LIMIT (1u << 31)

/* ---- what a plan may hold: shared by parse and encode ---- */

/* [a-z0-9-], the alphabet of tags and hostnames. */
static bool alphabet_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

static bool tag_ok(const char *s, size_t n)
{
	return n >= 1 && n <= TAG_MAX && alphabet_ok(s, n);
}

static bool hostname_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= HOSTNAME_MAX && alphabet_ok(s, n);
}

/* NULL when PATH is acceptable: absolute, every component non-empty and
 * neither "." nor "..", so that the agent mounts exactly where the host
 * meant and no share lands outside the tree it was given. */
static const char *path_problem(const char *path)
{
	const char *c;

	if (path[0] != '/')
		return "is not an absolute path";
	if (strlen(path) >= PATH_MAX)
		return "is too long";
	if (path[1] == '\0')
		return NULL;
	for (c = path + 1;; c++) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);

		if (n == 0)
			return *end ? "has an empty component" : "ends with '/'";
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return "has a '.' or '..' component";
		if (n > NAME_MAX)
			return "has a component over 255 bytes";
		if (*end == '\0')
			return NULL;
		c = end;
	}
}

/* Mounts, links and tmpfs go somewhere below "/": over it they would hide
 * the agent's own /dev and /proc. */
static const char *place_problem(const char *path)
{
	const char *why = path_problem(path);

	if (!why && strcmp(path, "/") == 0)
		why = "is /";
	return why;
}

static bool target_ok(const char *target)
{
	size_t n = strlen(target);

	return n > 0 && n < PATH_MAX && !strchr(target, ':');
}

static bool env_ok(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq && eq != kv;
}

/* "0", or a decimal without leading zeros below 2^31. */
static bool parse_id(const char *s, unsigned *out)
{
	unsigned long v = 0;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 10)
		return false;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v >= ID_LIMIT)
		return false;
	*out = (unsigned)v;
	return true;
}

/* ---- parse ---- */

struct parser {
	struct sp_guest_plan *plan;
	size_t record; /* from 1, for messages */
	const char *key;
	char *why;
	size_t why_len;
	bool seen_hostname, seen_uid, seen_gid, seen_cwd, seen_tty, seen_root, seen_seccomp;
	size_t n_args, cap_args, n_env, cap_env, n_tmpfs, cap_tmpfs;
	size_t n_ro, cap_ro, n_mask, cap_mask;
	size_t cap_mounts, cap_links;
};

/* N bytes of S quoted in a message: printable ASCII only and short, so
 * that the reason stays one readable line whatever the host sent. */
static void quote(char out[static 72], const char *s, size_t n)
{
	size_t i = 0;

	for (; i < n && i < 64; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *p, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (p->why && p->why_len > 0) {
		if (p->record > 0 && p->key)
			snprintf(p->why, p->why_len, "record %zu: %s: %s", p->record, p->key, reason);
		else if (p->record > 0)
			snprintf(p->why, p->why_len, "record %zu: %s", p->record, reason);
		else
			snprintf(p->why, p->why_len, "%s", reason);
	}
	errno = EINVAL;
	return -1;
}

static int fail_path(struct parser *p, const char *path, const char *problem)
{
	char q[72];

	quote(q, path, strlen(path));
	return fail(p, "'%s' %s", q, problem);
}

/* ARR (of elements of SIZE bytes, N in use) with room for N + 2: the
 * next entry and, for a string list, the NULL after it.  NULL and the
 * reason set when out of memory; ARR is then still the caller's. */
static void *grow(struct parser *p, void *arr, size_t *cap, size_t n, size_t size)
{
	size_t c;
	void *np;

	if (n + 2 <= *cap)
		return arr;
	c = *cap ? *cap * 2 : 8;
	np = realloc(arr, c * size);
	if (!np) {
		fail(p, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	*cap = c;
	return np;
}

static int dup_into(struct parser *p, char **dst, const char *s, size_t n)
{
	*dst = strndup(s, n);
	if (!*dst) {
		fail(p, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int once(struct parser *p, bool *seen)
{
	if (*seen)
		return fail(p, "given twice");
	*seen = true;
	return 0;
}

static int rec_hostname(struct parser *p, const char *v)
{
	if (once(p, &p->seen_hostname) < 0)
		return -1;
	if (!hostname_ok(v))
		return fail(p, "expected 1 to %d of [a-z0-9-]", HOSTNAME_MAX);
	return dup_into(p, &p->plan->hostname, v, strlen(v));
}

static int rec_uid(struct parser *p, const char *v)
{
	if (once(p, &p->seen_uid) < 0)
		return -1;
	if (!parse_id(v, &p->plan->uid))
		return fail(p, "expected a decimal number below 2^31");
	return 0;
}

static int rec_gid(struct parser *p, const char *v)
{
	if (once(p, &p->seen_gid) < 0)
		return -1;
	if (!parse_id(v, &p->plan->gid))
		return fail(p, "expected a decimal number below 2^31");
	return 0;
}

static int rec_cwd(struct parser *p, const char *v)
{
	const char *problem;

	if (once(p, &p->seen_cwd) < 0)
		return -1;
	problem = path_problem(v);
	if (problem)
		return fail_path(p, v, problem);
	return dup_into(p, &p->plan->cwd, v, strlen(v));
}

static int rec_root(struct parser *p, const char *v)
{
	if (once(p, &p->seen_root) < 0)
		return -1;
	if (!tag_ok(v, strlen(v)))
		return fail(p, "tag must be 1 to 36 of [a-z0-9-]");
	return dup_into(p, &p->plan->root, v, strlen(v));
}

static int rec_tty(struct parser *p, const char *v)
{
	if (once(p, &p->seen_tty) < 0)
		return -1;
	if (strcmp(v, "1") != 0)
		return fail(p, "expected 1");
	p->plan->tty = true;
	return 0;
}

/* Appends a copy of V to a NULL-terminated list. */
static int push_str(struct parser *p, char ***list, size_t *n, size_t *cap, size_t max, const char *v)
{
	char **np;

	if (*n >= max)
		return fail(p, "more than %zu", max);
	np = grow(p, *list, cap, *n, sizeof **list);
	if (!np)
		return -1;
	*list = np;
	(*list)[*n] = NULL;
	if (dup_into(p, &(*list)[*n], v, strlen(v)) < 0)
		return -1;
	(*list)[++*n] = NULL;
	return 0;
}

static int rec_arg(struct parser *p, const char *v)
{
	return push_str(p, &p->plan->argv, &p->n_args, &p->cap_args, SP_PLAN_MAX_ARGS, v);
}

static int rec_env(struct parser *p, const char *v)
{
	if (!env_ok(v))
		return fail(p, "expected KEY=VALUE");
	return push_str(p, &p->plan->envp, &p->n_env, &p->cap_env, SP_PLAN_MAX_ENV, v);
}

static int rec_tmpfs(struct parser *p, const char *v)
{
	const char *problem = place_problem(v);

	if (problem)
		return fail_path(p, v, problem);
	return push_str(p, &p->plan->tmpfs, &p->n_tmpfs, &p->cap_tmpfs, SP_PLAN_MAX_TMPFS, v);
}

/* /proc paths only: the command's /proc is the one place these go. */
static int proc_path(struct parser *p, const char *v)
{
	const char *problem = place_problem(v);

	if (problem)
		return fail_path(p, v, problem);
	if (strncmp(v, "/proc/", 6) != 0)
		return fail_path(p, v, "is not beneath /proc");
	return 0;
}

static int rec_ro(struct parser *p, const char *v)
{
	if (proc_path(p, v) < 0)
		return -1;
	return push_str(p, &p->plan->ro, &p->n_ro, &p->cap_ro, SP_PLAN_MAX_PROC, v);
}

static int rec_mask(struct parser *p, const char *v)
{
	if (proc_path(p, v) < 0)
		return -1;
	return push_str(p, &p->plan->mask, &p->n_mask, &p->cap_mask, SP_PLAN_MAX_PROC, v);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The program is checked for its shape only: the guest's kernel checks
 * the instructions when the agent loads them. */
static int rec_seccomp(struct parser *p, const char *v)
{
	size_t n = strlen(v), bytes = n / 2;
	uint8_t *prog;

	if (once(p, &p->seen_seccomp) < 0)
		return -1;
	if (n % 2 != 0 || bytes == 0 || bytes % 8 != 0 || bytes > SP_PLAN_MAX_SECCOMP)
		return fail(p, "expected 1 to 4096 BPF instructions in hex");
	prog = malloc(bytes);
	if (!prog) {
		fail(p, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < bytes; i++) {
		int hi = hex_digit(v[2 * i]), lo = hex_digit(v[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(prog);
			return fail(p, "expected lower-case hex");
		}
		prog[i] = (uint8_t)(hi << 4 | lo);
	}
	p->plan->seccomp = prog;
	p->plan->seccomp_len = bytes;
	return 0;
}

static int rec_mount(struct parser *p, const char *v)
{
	struct sp_guest_plan *plan = p->plan;
	const char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *problem;
	struct sp_guest_mount *m;
	size_t mode_len;

	if (!c2)
		return fail(p, "expected TAG:ro|rw:PATH");
	if (!tag_ok(v, (size_t)(c1 - v)))
		return fail(p, "tag must be 1 to %d of [a-z0-9-]", TAG_MAX);
	mode_len = (size_t)(c2 - c1 - 1);
	if (mode_len != 2 || (memcmp(c1 + 1, "ro", 2) != 0 && memcmp(c1 + 1, "rw", 2) != 0))
		return fail(p, "mode must be ro or rw");
	problem = place_problem(c2 + 1);
	if (problem)
		return fail_path(p, c2 + 1, problem);
	if (plan->n_mounts >= SP_PLAN_MAX_MOUNTS)
		return fail(p, "more than %d", SP_PLAN_MAX_MOUNTS);
	m = grow(p, plan->mounts, &p->cap_mounts, plan->n_mounts, sizeof *plan->mounts);
	if (!m)
		return -1;
	plan->mounts = m;
	m = &plan->mounts[plan->n_mounts++];
	*m = (struct sp_guest_mount){ .readonly = c1[2] == 'o' };
	if (dup_into(p, &m->tag, v, (size_t)(c1 - v)) < 0)
		return -1;
	return dup_into(p, &m->path, c2 + 1, strlen(c2 + 1));
}

static int rec_link(struct parser *p, const char *v)
{
	struct sp_guest_plan *plan = p->plan;
	const char *colon = strchr(v, ':'), *problem;
	struct sp_guest_link *l;

	if (!colon || colon == v)
		return fail(p, "expected TARGET:PATH");
	if ((size_t)(colon - v) >= PATH_MAX)
		return fail(p, "target is too long");
	problem = place_problem(colon + 1);
	if (problem)
		return fail_path(p, colon + 1, problem);
	if (plan->n_links >= SP_PLAN_MAX_LINKS)
		return fail(p, "more than %d", SP_PLAN_MAX_LINKS);
	l = grow(p, plan->links, &p->cap_links, plan->n_links, sizeof *plan->links);
	if (!l)
		return -1;
	plan->links = l;
	l = &plan->links[plan->n_links++];
	*l = (struct sp_guest_link){ 0 };
	if (dup_into(p, &l->target, v, (size_t)(colon - v)) < 0)
		return -1;
	return dup_into(p, &l->path, colon + 1, strlen(colon + 1));
}

static const struct {
	const char *key;
	int (*fn)(struct parser *p, const char *value);
} record_kinds[] = {
	{ "hostname", rec_hostname }, { "uid", rec_uid },     { "gid", rec_gid },
	{ "cwd", rec_cwd },	      { "arg", rec_arg },     { "env", rec_env },
	{ "mount", rec_mount },	      { "link", rec_link },   { "tmpfs", rec_tmpfs },
	{ "tty", rec_tty },	      { "root", rec_root },   { "seccomp", rec_seccomp },
	{ "ro", rec_ro },	      { "mask", rec_mask },
};

static int parse_record(struct parser *p, const char *rec)
{
	const char *eq = strchr(rec, '=');
	size_t klen;
	char q[72];

	p->key = NULL;
	if (!eq)
		return fail(p, "expected KEY=VALUE");
	klen = (size_t)(eq - rec);
	for (size_t i = 0; i < sizeof record_kinds / sizeof record_kinds[0]; i++) {
		if (strlen(record_kinds[i].key) == klen && memcmp(record_kinds[i].key, rec, klen) == 0) {
			p->key = record_kinds[i].key;
			return record_kinds[i].fn(p, eq + 1);
		}
	}
	quote(q, rec, klen);
	return fail(p, "unknown key '%s'", q);
}

static int parse_records(struct parser *p, const uint8_t *data, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		const uint8_t *nul = memchr(data + pos, '\0', len - pos);

		p->record++;
		p->key = NULL;
		if (!nul)
			return fail(p, "not terminated by NUL");
		if (parse_record(p, (const char *)data + pos) < 0)
			return -1;
		pos = (size_t)(nul - data) + 1;
	}
	p->record = 0;
	if (!p->seen_hostname)
		return fail(p, "no hostname");
	if (!p->seen_uid)
		return fail(p, "no uid");
	if (!p->seen_gid)
		return fail(p, "no gid");
	if (!p->seen_cwd)
		return fail(p, "no cwd");
	if (p->n_args == 0)
		return fail(p, "no arg");
	/* A plan without a filter would run the command unconfined: the
	 * agent does not guess. */
	if (!p->seen_seccomp)
		return fail(p, "no seccomp");
	return 0;
}

/* An empty list is still a list: the agent hands envp to execve as is. */
static int terminate(struct parser *p, char ***list, size_t n, size_t *cap)
{
	char **np = grow(p, *list, cap, n, sizeof **list);

	if (!np)
		return -1;
	*list = np;
	(*list)[n] = NULL;
	return 0;
}

int sp_guest_plan_parse(const uint8_t *data, size_t len, struct sp_guest_plan *plan, char *why,
			size_t why_len)
{
	struct parser p = { .plan = plan, .why = why, .why_len = why_len };
	int saved;

	*plan = (struct sp_guest_plan){ 0 };
	if (why && why_len > 0)
		why[0] = '\0';
	if (len > SP_FRAME_MAX) {
		fail(&p, "plan over %u bytes", SP_FRAME_MAX);
		goto fail;
	}
	if (parse_records(&p, data, len) < 0 || terminate(&p, &plan->envp, p.n_env, &p.cap_env) < 0 ||
	    terminate(&p, &plan->tmpfs, p.n_tmpfs, &p.cap_tmpfs) < 0 ||
	    terminate(&p, &plan->ro, p.n_ro, &p.cap_ro) < 0 || terminate(&p, &plan->mask, p.n_mask, &p.cap_mask) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	sp_guest_plan_free(plan);
	errno = saved;
	return -1;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void sp_guest_plan_free(struct sp_guest_plan *plan)
{
	free(plan->hostname);
	free(plan->cwd);
	free(plan->root);
	free_strv(plan->argv);
	free_strv(plan->envp);
	free_strv(plan->tmpfs);
	free_strv(plan->ro);
	free_strv(plan->mask);
	free(plan->seccomp);
	for (size_t i = 0; i < plan->n_mounts; i++) {
		free(plan->mounts[i].tag);
		free(plan->mounts[i].path);
	}
	free(plan->mounts);
	for (size_t i = 0; i < plan->n_links; i++) {
		free(plan->links[i].target);
		free(plan->links[i].path);
	}
	free(plan->links);
	*plan = (struct sp_guest_plan){ 0 };
}

/* ---- encode ---- */

struct out {
	uint8_t *p;
	size_t len, cap;
	int err; /* the first failure's errno, 0 while all is well */
};

/* Appends "KEY=" and the pieces (NULL-ended), then the NUL. */
static void emit(struct out *o, const char *key, ...)
{
	const char *piece;
	va_list ap;
	size_t need = strlen(key) + 2;

	if (o->err)
		return;
	va_start(ap, key);
	while ((piece = va_arg(ap, const char *)))
		need += strlen(piece);
	va_end(ap);
	if (need > SP_FRAME_MAX - o->len) {
		o->err = E2BIG;
		return;
	}
	if (o->len + need > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		uint8_t *np;

		while (cap < o->len + need)
			cap *= 2;
		np = realloc(o->p, cap);
		if (!np) {
			o->err = ENOMEM;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, key, strlen(key));
	o->len += strlen(key);
	o->p[o->len++] = '=';
	va_start(ap, key);
	while ((piece = va_arg(ap, const char *))) {
		size_t n = strlen(piece);

		memcpy(o->p + o->len, piece, n);
		o->len += n;
	}
	va_end(ap);
	o->p[o->len++] = '\0';
}

static void emit_hex(struct out *o, const char *key, const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *hex;

	if (o->err)
		return;
	hex = malloc(2 * len + 1);
	if (!hex) {
		o->err = ENOMEM;
		return;
	}
	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[data[i] >> 4];
		hex[2 * i + 1] = digits[data[i] & 15];
	}
	hex[2 * len] = '\0';
	emit(o, key, hex, NULL);
	free(hex);
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static bool mounts_ok(const struct sp_guest_plan *plan)
{
	if (plan->n_mounts > SP_PLAN_MAX_MOUNTS || (plan->n_mounts > 0 && !plan->mounts))
		return false;
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sp_guest_mount *m = &plan->mounts[i];

		if (!m->tag || !m->path || !tag_ok(m->tag, strlen(m->tag)) || place_problem(m->path))
			return false;
	}
	return true;
}

static bool links_ok(const struct sp_guest_plan *plan)
{
	if (plan->n_links > SP_PLAN_MAX_LINKS || (plan->n_links > 0 && !plan->links))
		return false;
	for (size_t i = 0; i < plan->n_links; i++) {
		const struct sp_guest_link *l = &plan->links[i];

		if (!l->target || !l->path || !target_ok(l->target) || place_problem(l->path))
			return false;
	}
	return true;
}

static bool proc_list_ok(char *const *v)
{
	size_t n = strv_len(v);

	if (n > SP_PLAN_MAX_PROC)
		return false;
	for (size_t i = 0; i < n; i++)
		if (place_problem(v[i]) || strncmp(v[i], "/proc/", 6) != 0)
			return false;
	return true;
}

/* Exactly what sp_guest_plan_parse accepts, so that parse(encode(p))
 * gives p back. */
static bool plan_ok(const struct sp_guest_plan *plan)
{
	size_t n_args = strv_len(plan->argv), n_env = strv_len(plan->envp), n_tmpfs = strv_len(plan->tmpfs);

	if (!plan->hostname || !hostname_ok(plan->hostname) || plan->uid >= ID_LIMIT || plan->gid >= ID_LIMIT)
		return false;
	if (!plan->cwd || path_problem(plan->cwd))
		return false;
	if (plan->root && !tag_ok(plan->root, strlen(plan->root)))
		return false;
	if (n_args == 0 || n_args > SP_PLAN_MAX_ARGS || n_env > SP_PLAN_MAX_ENV || n_tmpfs > SP_PLAN_MAX_TMPFS)
		return false;
	for (size_t i = 0; i < n_env; i++)
		if (!env_ok(plan->envp[i]))
			return false;
	for (size_t i = 0; i < n_tmpfs; i++)
		if (place_problem(plan->tmpfs[i]))
			return false;
	if (!plan->seccomp || plan->seccomp_len == 0 || plan->seccomp_len % 8 != 0 ||
	    plan->seccomp_len > SP_PLAN_MAX_SECCOMP)
		return false;
	if (!proc_list_ok(plan->ro) || !proc_list_ok(plan->mask))
		return false;
	return mounts_ok(plan) && links_ok(plan);
}

static void emit_all(struct out *o, const struct sp_guest_plan *plan)
{
	char uid[16], gid[16];

	snprintf(uid, sizeof uid, "%u", plan->uid);
	snprintf(gid, sizeof gid, "%u", plan->gid);
	emit(o, "hostname", plan->hostname, NULL);
	emit(o, "uid", uid, NULL);
	emit(o, "gid", gid, NULL);
	emit(o, "cwd", plan->cwd, NULL);
	if (plan->root)
		emit(o, "root", plan->root, NULL);
	if (plan->tty)
		emit(o, "tty", "1", NULL);
	for (size_t i = 0; plan->argv[i]; i++)
		emit(o, "arg", plan->argv[i], NULL);
	for (size_t i = 0; plan->envp && plan->envp[i]; i++)
		emit(o, "env", plan->envp[i], NULL);
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sp_guest_mount *m = &plan->mounts[i];

		emit(o, "mount", m->tag, m->readonly ? ":ro:" : ":rw:", m->path, NULL);
	}
	for (size_t i = 0; i < plan->n_links; i++)
		emit(o, "link", plan->links[i].target, ":", plan->links[i].path, NULL);
	for (size_t i = 0; plan->tmpfs && plan->tmpfs[i]; i++)
		emit(o, "tmpfs", plan->tmpfs[i], NULL);
	for (size_t i = 0; plan->ro && plan->ro[i]; i++)
		emit(o, "ro", plan->ro[i], NULL);
	for (size_t i = 0; plan->mask && plan->mask[i]; i++)
		emit(o, "mask", plan->mask[i], NULL);
	emit_hex(o, "seccomp", plan->seccomp, plan->seccomp_len);
}

int sp_guest_plan_encode(const struct sp_guest_plan *plan, uint8_t **out, size_t *len)
{
	struct out o = { 0 };

	*out = NULL;
	*len = 0;
	if (!plan_ok(plan)) {
		errno = EINVAL;
		return -1;
	}
	emit_all(&o, plan);
	if (o.err) {
		free(o.p);
		errno = o.err;
		return -1;
	}
	*out = o.p;
	*len = o.len;
	return 0;
}
