/* What a repository holds: its snapshots, and the leftovers of an
 * interrupted backup. */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "backup/index.h"
#include "util/cleanup.h"
#include "util/strv.h"

void sp_bk_snapshots_free(struct sp_bk_snapshot *snaps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sp_bk_snapshot_free(&snaps[i]);
	free(snaps);
}

int sp_bk_snapshots_load(struct sp_bk_repo *repo, struct sp_bk_snapshot **out, size_t *out_n, struct sp_err *err)
{
	char **names = NULL;
	struct sp_bk_snapshot *v = NULL;
	size_t n = 0, count;

	if (sp_bk_repo_list(repo, SP_BK_KIND_SNAPSHOT, &names, err) < 0)
		return -1;
	count = sp_strv_len(names);
	v = calloc(count + 1, sizeof *v);
	if (v == NULL) {
		sp_strv_free(names);
		return sp_fail_errno(err, ENOMEM, "snapshots");
	}
	for (; n < count; n++) {
		cleanup_free uint8_t *json = NULL;
		size_t len;

		if (sp_bk_repo_get(repo, SP_BK_KIND_SNAPSHOT, names[n], &json, &len, NULL, err) < 0 ||
		    sp_bk_snapshot_decode(names[n], (const char *)json, len, &v[n], err) < 0) {
			sp_bk_snapshots_free(v, n);
			sp_strv_free(names);
			return -1;
		}
	}
	sp_strv_free(names);
	sp_bk_snapshots_sort(v, n);
	*out = v;
	*out_n = n;
	return 0;
}

int sp_bk_snapshot_pick(const struct sp_bk_snapshot *snaps, size_t n, const char *which, struct sp_err *err)
{
	size_t len = strlen(which);
	int found = -1;

	if (strcmp(which, "latest") == 0) {
		if (n == 0)
			return sp_fail(err, SP_ERR_RUNTIME, "the repository has no snapshot");
		return (int)n - 1;
	}
	if (len < 8 || len > 2 * SP_BK_ID_LEN || strspn(which, "0123456789abcdef") != len)
		return sp_fail(err, SP_ERR_USAGE,
			       "snapshot `%s': expected \"latest\" or at least 8 hex digits of its id", which);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(snaps[i].id, which, len) != 0)
			continue;
		if (found >= 0)
			return sp_fail(err, SP_ERR_USAGE, "snapshot `%s': more than one id starts so", which);
		found = (int)i;
	}
	if (found < 0)
		return sp_fail(err, SP_ERR_RUNTIME, "snapshot `%s': no such snapshot", which);
	return found;
}

int sp_bk_clean_leftovers(struct sp_bk_repo *repo, FILE *out, struct sp_err *err)
{
	struct sp_bk_index_load_report report;
	struct sp_bk_index *idx = sp_bk_index_new();
	size_t removed = 0;
	int tmp, ret = -1;

	tmp = sp_bk_repo_clean_tmp(repo, err);
	if (tmp < 0)
		goto out_idx;
	if (sp_bk_index_load(repo, idx, &report, err) < 0)
		goto out_idx;
	/* A pack that no index lists was written by a backup killed before
	 * its index: no snapshot can use it (snapshots are written after
	 * their index).  Unless an index is damaged: then it may be what
	 * that index listed, and its trailer is all that is left of it. */
	if (report.damaged_index == NULL) {
		for (size_t i = 0; report.recovered_packs != NULL && report.recovered_packs[i] != NULL; i++) {
			if (sp_bk_repo_remove(repo, "packs", report.recovered_packs[i], err) < 0)
				goto out;
			removed++;
		}
	}
	for (size_t i = 0; report.unreadable_packs != NULL && report.unreadable_packs[i] != NULL; i++) {
		if (report.damaged_index != NULL)
			continue;
		if (sp_bk_repo_remove(repo, "packs", report.unreadable_packs[i], err) < 0)
			goto out;
		removed++;
	}
	if (out != NULL && (tmp > 0 || removed > 0))
		fprintf(out, "removed what an interrupted backup left: %d temporary file%s, %zu pack%s\n", tmp,
			tmp == 1 ? "" : "s", removed, removed == 1 ? "" : "s");
	ret = 0;
out:
	sp_bk_index_load_report_free(&report);
out_idx:
	sp_bk_index_free(idx);
	return ret;
}

/* STORE/.backup/ID records that repository ID was encrypted when this
 * store last wrote to it.  The repository's config is not signed: one
 * who can write to the disk could swap in an unencrypted config of the
 * same id, and the next scheduled backup would write the store in clear. */
int sp_bk_check_encryption(const struct sp_bk_repo *repo, const char *store, struct sp_err *err)
{
	cleanup_free char *dir = NULL;
	cleanup_free char *path = NULL;
	int fd;

	if (asprintf(&dir, "%s/.backup", store) < 0 || asprintf(&path, "%s/%s", dir, repo->id) < 0)
		return sp_fail_errno(err, ENOMEM, "backup");
	if (!repo->keys.encrypted) {
		if (access(path, F_OK) == 0)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "%s: this store wrote to repository %s encrypted, but its config now says it is not "
				       "(replaced?): refusing to write in clear (remove %s if this is intended)",
				       repo->path, repo->id, path);
		return 0;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "%s", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sp_fail_errno(err, errno, "%s", path);
	close(fd);
	return 0;
}
