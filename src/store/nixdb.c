#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/nixdb.h"
#include "util/cleanup.h"
#include "util/nixenv.h"
#include "util/strv.h"

const struct sp_nix_path *sp_nixdb_find(const struct sp_nix_db *db, const char *path)
{
	for (size_t i = 0; i < db->n; i++)
		if (strcmp(db->p[i].path, path) == 0)
			return &db->p[i];
	return NULL;
}

static bool valid_store_path(const char *s)
{
	return strncmp(s, "/nix/store/", 11) == 0 && s[11] && !strchr(s + 11, '/');
}

/* Records of --dump-db: path, NAR hash (hex), NAR size, deriver (may be
 * empty), number of references, the references. */
static int parse_dump(char *text, struct sp_nix_db *db, struct sp_err *err)
{
	char *save = NULL;
	char *line = strtok_r(text, "\n", &save);

	/* strtok_r skips empty lines, so the deriver line, which may be
	 * empty, is recognised by what it is not. */
	while (line) {
		struct sp_nix_path *np, rec = { 0 };
		char *hash, *size, *count;
		long nrefs;

		if (!valid_store_path(line))
			return sp_fail(err, SP_ERR_RUNTIME, "nix-store --dump-db: unexpected line %.80s", line);
		rec.path = line;
		hash = strtok_r(NULL, "\n", &save);
		size = strtok_r(NULL, "\n", &save);
		count = strtok_r(NULL, "\n", &save);
		if (count && valid_store_path(count) && strstr(count, ".drv"))
			count = strtok_r(NULL, "\n", &save); /* that was the deriver */
		if (!hash || strlen(hash) != 64 || !size || !count)
			return sp_fail(err, SP_ERR_RUNTIME, "nix-store --dump-db: short record for %s", rec.path);
		nrefs = strtol(count, NULL, 10);
		if (sp_nixdb_find(db, rec.path)) {
			for (long i = 0; i < nrefs; i++)
				strtok_r(NULL, "\n", &save);
			line = strtok_r(NULL, "\n", &save);
			continue;
		}
		np = realloc(db->p, (db->n + 1) * sizeof *np);
		if (!np)
			return sp_fail_errno(err, ENOMEM, "nix db");
		db->p = np;
		np = &db->p[db->n];
		memset(np, 0, sizeof *np);
		np->path = strdup(rec.path);
		memcpy(np->hash, hash, 64);
		db->n++;
		if (!np->path)
			return sp_fail_errno(err, ENOMEM, "nix db");
		for (long i = 0; i < nrefs; i++) {
			char *ref = strtok_r(NULL, "\n", &save);
			if (!ref || !valid_store_path(ref))
				return sp_fail(err, SP_ERR_RUNTIME, "nix-store --dump-db: bad reference of %s", np->path);
			if (sp_strv_push(&np->refs, ref) < 0)
				return sp_fail_errno(err, ENOMEM, "nix db");
		}
		line = strtok_r(NULL, "\n", &save);
	}
	return 0;
}

int sp_nixdb_query(char *const *roots, struct sp_nix_db *db, struct sp_err *err)
{
	char **todo = NULL;
	int ret = -1;

	for (size_t i = 0; roots && roots[i]; i++)
		if (!sp_nixdb_find(db, roots[i]) && !sp_strv_contains(todo, roots[i]) && sp_strv_push(&todo, roots[i]) < 0)
			goto nomem;
	while (todo) {
		char **argv = NULL, **next = NULL;
		cleanup_free char *out = NULL;
		size_t before = db->n;

		if (sp_strv_push(&argv, "nix-store") < 0 || sp_strv_push(&argv, "--dump-db") < 0) {
			sp_strv_free(argv);
			goto nomem;
		}
		for (size_t i = 0; todo[i]; i++)
			if (sp_strv_push(&argv, todo[i]) < 0) {
				sp_strv_free(argv);
				goto nomem;
			}
		ret = sp_capture(argv, SP_NIX_ENV, &out, err);
		sp_strv_free(argv);
		sp_strv_free(todo);
		todo = NULL;
		if (ret < 0 || (ret = parse_dump(out, db, err)) < 0)
			return sp_err_wrap(err, "query the Nix database");
		ret = -1;
		for (size_t i = before; i < db->n; i++)
			for (size_t r = 0; db->p[i].refs && db->p[i].refs[r]; r++) {
				const char *ref = db->p[i].refs[r];
				if (!sp_nixdb_find(db, ref) && !sp_strv_contains(next, ref) && sp_strv_push(&next, ref) < 0) {
					sp_strv_free(next);
					goto nomem;
				}
			}
		todo = next;
	}
	return 0;
nomem:
	sp_strv_free(todo);
	return sp_fail_errno(err, ENOMEM, "nix db");
}

static int visit(const struct sp_nix_db *db, const char *path, char ***out, struct sp_err *err)
{
	const struct sp_nix_path *p;

	if (sp_strv_contains(*out, path))
		return 0;
	p = sp_nixdb_find(db, path);
	if (!p)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: not a valid store path (not registered in the Nix database)", path);
	if (sp_strv_push(out, path) < 0)
		return sp_fail_errno(err, ENOMEM, "closure");
	for (size_t i = 0; p->refs && p->refs[i]; i++)
		if (visit(db, p->refs[i], out, err) < 0)
			return -1;
	return 0;
}

int sp_nixdb_closure(const struct sp_nix_db *db, char *const *roots, char ***out, struct sp_err *err)
{
	*out = NULL;
	for (size_t i = 0; roots && roots[i]; i++)
		if (visit(db, roots[i], out, err) < 0) {
			sp_strv_free(*out);
			*out = NULL;
			return -1;
		}
	return 0;
}

void sp_nixdb_free(struct sp_nix_db *db)
{
	for (size_t i = 0; i < db->n; i++) {
		free(db->p[i].path);
		sp_strv_free(db->p[i].refs);
	}
	free(db->p);
	db->p = NULL;
	db->n = 0;
}

int sp_nixdb_load(struct sp_nix_db *db, const char *text, struct sp_err *err)
{
	cleanup_free char *copy = strdup(text ? text : "");
	char *save = NULL, *line;

	if (!copy)
		return sp_fail_errno(err, ENOMEM, "nix db");
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *path = line, *hash = strchr(line, '\t'), *refs, *rsave = NULL;
		struct sp_nix_path *np;

		if (!hash)
			continue;
		*hash++ = '\0';
		refs = strchr(hash, '\t');
		/* No references field (not even empty): not known, ask Nix;
		 * taking it for "no references" would shrink a closure. */
		if (!refs)
			continue;
		*refs++ = '\0';
		if (!valid_store_path(path) || strlen(hash) != 64 || sp_nixdb_find(db, path))
			continue;
		np = realloc(db->p, (db->n + 1) * sizeof *np);
		if (!np)
			return sp_fail_errno(err, ENOMEM, "nix db");
		db->p = np;
		np = &db->p[db->n];
		memset(np, 0, sizeof *np);
		np->path = strdup(path);
		memcpy(np->hash, hash, 64);
		db->n++;
		if (!np->path)
			return sp_fail_errno(err, ENOMEM, "nix db");
		for (char *r = refs ? strtok_r(refs, " ", &rsave) : NULL; r; r = strtok_r(NULL, " ", &rsave))
			if (valid_store_path(r) && sp_strv_push(&np->refs, r) < 0)
				return sp_fail_errno(err, ENOMEM, "nix db");
	}
	return 0;
}

char *sp_nixdb_format(const struct sp_nix_db *db, char *const *only)
{
	size_t cap = 1;
	char *s, *p;

	for (size_t i = 0; i < db->n; i++) {
		cap += strlen(db->p[i].path) + 68;
		for (size_t r = 0; db->p[i].refs && db->p[i].refs[r]; r++)
			cap += strlen(db->p[i].refs[r]) + 1;
	}
	s = p = malloc(cap);
	if (!s)
		return NULL;
	for (size_t i = 0; i < db->n; i++) {
		if (only && !sp_strv_contains(only, db->p[i].path))
			continue;
		p += sprintf(p, "%s\t%s\t", db->p[i].path, db->p[i].hash);
		for (size_t r = 0; db->p[i].refs && db->p[i].refs[r]; r++)
			p += sprintf(p, "%s%s", r ? " " : "", db->p[i].refs[r]);
		*p++ = '\n';
	}
	*p = '\0';
	return s;
}
