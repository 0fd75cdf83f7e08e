/* The repository on disk: its config and keys, its lock, and the one way
 * files get into it (tmp/, fsync, rename, fsync of the directory). */
#include "backup/repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/keyctl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "backup/bytes.h"
#include "util/cleanup.h"
#include "util/strv.h"

#define KEYS_LEN SP_BK_KEYS_LEN
#define KDF_OPS 3u
#define KDF_MEM (128u * 1024 * 1024)
#define PASS_MAX 1024
/* The largest files read whole, so that a forged size does not choose
 * the allocation: an index file (81 bytes a blob; prune writes one for
 * the whole repository: 2 GiB is ~26 million blobs, ~13 TiB of data in
 * chunks of 512 KiB) and the others (snapshots, manifests: kilobytes). */
#define INDEX_FILE_MAX (2048u * 1024 * 1024)
#define SMALL_FILE_MAX (64u * 1024 * 1024)
/* A config is a few hundred bytes: anything far larger is not one. */
#define CONFIG_MAX (64u * 1024)

static const char *const subdirs[] = { "tmp", "snapshots", "index", "packs" };

/* ---- The passphrase ---- */

static int read_tty_line(const char *prompt, char *buf, size_t size, struct sp_err *err)
{
	struct termios old, quiet;
	cleanup_file FILE *tty = fopen("/dev/tty", "r+e");
	bool restore = false;
	int ret = 0;

	if (tty == NULL)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "needs a passphrase: give --passphrase-file FILE or set SPECTRUM_PASSPHRASE");
	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
	}
	if (fgets(buf, (int)size, tty) == NULL)
		ret = sp_fail(err, SP_ERR_USAGE, "no passphrase given");
	if (restore)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	buf[strcspn(buf, "\n")] = '\0';
	return ret;
}

/* Removes NAME from the environment, its bytes overwritten first: the
 * passphrase is not handed to the programs spectrum runs (a freeze, say)
 * nor left in the process's memory longer than needed. */
static void scrub_env(const char *name)
{
	char *v = getenv(name);

	if (v != NULL)
		sodium_memzero(v, strlen(v));
	unsetenv(name);
}

/* The passphrase from SRC->file, else (when USE_ENV) the environment,
 * else the terminal (twice when TWICE). */
static int get_passphrase_from(const struct sp_bk_pass_source *src, bool twice, bool use_env, char *buf,
			       size_t size, struct sp_err *err)
{
	const char *env = use_env ? getenv("SPECTRUM_PASSPHRASE") : NULL;

	if (src != NULL && src->file != NULL) {
		cleanup_file FILE *f = fopen(src->file, "re");

		if (f == NULL)
			return sp_fail_errno(err, errno, "passphrase file `%s'", src->file);
		if (fgets(buf, (int)size, f) == NULL)
			buf[0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	} else if (env != NULL) {
		snprintf(buf, size, "%s", env);
		scrub_env("SPECTRUM_PASSPHRASE");
	} else {
		char again[PASS_MAX];

		if (read_tty_line(twice && !use_env ? "New passphrase: " : "Passphrase: ", buf, size, err) < 0)
			return -1;
		if (twice) {
			if (read_tty_line("Passphrase again: ", again, sizeof again, err) < 0)
				return -1;
			if (strcmp(buf, again) != 0) {
				sodium_memzero(again, sizeof again);
				return sp_fail(err, SP_ERR_USAGE, "the two passphrases differ");
			}
			sodium_memzero(again, sizeof again);
		}
	}
	if (buf[0] == '\0')
		return sp_fail(err, SP_ERR_USAGE, "the passphrase is empty");
	return 0;
}

static int get_passphrase(const struct sp_bk_pass_source *src, bool twice, char *buf, size_t size,
			  struct sp_err *err)
{
	return get_passphrase_from(src, twice, true, buf, size, err);
}

/* ---- Files ---- */

static int fsync_dir(int dirfd, const char *name)
{
	cleanup_fd int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -1;
	return 0;
}

int sp_bk_repo_tmpfile(struct sp_bk_repo *repo, char *tmpname, struct sp_err *err)
{
	uint8_t rnd[12];
	char hex[25];
	int fd;

	randombytes_buf(rnd, sizeof rnd);
	sp_bk_hex(rnd, sizeof rnd, hex);
	snprintf(tmpname, 64, "tmp/%s", hex);
	fd = openat(repo->dirfd, tmpname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sp_fail_errno(err, errno, "%s/%s", repo->path, tmpname);
	return fd;
}

static void kind_path(const char *kind, const char *name, char *out, size_t size)
{
	if (strcmp(kind, "packs") == 0)
		snprintf(out, size, "packs/%.2s/%s", name, name);
	else
		snprintf(out, size, "%s/%s", kind, name);
}

int sp_bk_repo_commit(struct sp_bk_repo *repo, int fd, const char *tmpname, const char *kind, const char *name,
		      struct sp_err *err)
{
	char dest[160], dir[32];
	int ret = -1;

	if (fsync(fd) < 0) {
		sp_fail_errno(err, errno, "%s/%s: fsync", repo->path, tmpname);
		goto out;
	}
	if (strcmp(kind, "packs") == 0) {
		snprintf(dir, sizeof dir, "packs/%.2s", name);
		if (mkdirat(repo->dirfd, dir, 0700) == 0)
			fsync_dir(repo->dirfd, "packs");
		else if (errno != EEXIST) {
			sp_fail_errno(err, errno, "%s/%s", repo->path, dir);
			goto out;
		}
	} else {
		size_t n = strlen(kind);

		/* A copy, not snprintf: GCC's format checks under UBSan take
		 * KIND for a possible null. */
		if (n >= sizeof dir) {
			sp_fail(err, SP_ERR_RUNTIME, "%s: a kind of file too long", repo->path);
			goto out;
		}
		memcpy(dir, kind, n + 1);
		/* manifests/ is newer than the repositories of format 1. */
		if (strcmp(kind, SP_BK_KIND_MANIFEST) == 0 && mkdirat(repo->dirfd, dir, 0700) == 0)
			fsync(repo->dirfd);
	}
	kind_path(kind, name, dest, sizeof dest);
	if (renameat(repo->dirfd, tmpname, repo->dirfd, dest) < 0) {
		sp_fail_errno(err, errno, "%s/%s", repo->path, dest);
		goto out;
	}
	if (fsync_dir(repo->dirfd, dir) < 0) {
		sp_fail_errno(err, errno, "%s/%s: fsync", repo->path, dir);
		goto out;
	}
	ret = 0;
out:
	close(fd);
	if (ret < 0)
		unlinkat(repo->dirfd, tmpname, 0);
	return ret;
}

int sp_bk_repo_put(struct sp_bk_repo *repo, const char *kind, const void *plain, size_t len, char *name_out,
		   struct sp_err *err)
{
	size_t slen = sp_bk_sealed_len(&repo->keys, len);
	cleanup_free uint8_t *sealed = malloc(slen ? slen : 1);
	uint8_t hash[SP_BK_ID_LEN];
	char tmpname[64];
	int fd;

	if (sealed == NULL)
		return sp_fail_errno(err, ENOMEM, "%s", kind);
	sp_bk_seal(&repo->keys, plain, len, kind, strlen(kind), sealed);
	sp_bk_hash(sealed, slen, hash);
	sp_bk_hex(hash, sizeof hash, name_out);
	fd = sp_bk_repo_tmpfile(repo, tmpname, err);
	if (fd < 0)
		return -1;
	if (sp_bk_write_all(fd, sealed, slen) < 0) {
		sp_fail_errno(err, errno, "%s/%s", repo->path, tmpname);
		close(fd);
		unlinkat(repo->dirfd, tmpname, 0);
		return -1;
	}
	return sp_bk_repo_commit(repo, fd, tmpname, kind, name_out, err);
}

/* Reads PATH whole: at most MAX bytes (a file larger than any spectrum
 * writes of its kind is refused with EFBIG before anything is allocated
 * for it). */
static int read_whole(int dirfd, const char *path, size_t max, uint8_t **buf, size_t *len)
{
	/* O_NONBLOCK: a FIFO put where a file belongs would block the open
	 * (every command, for ever); it is refused below as not regular. */
	cleanup_fd int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	size_t got = 0;
	uint8_t *b;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL)
		return -1;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(b);
			if (r == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)r;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

int sp_bk_repo_get(struct sp_bk_repo *repo, const char *kind, const char *name, uint8_t **plain, size_t *len,
		   bool *damaged, struct sp_err *err)
{
	cleanup_free uint8_t *sealed = NULL;
	uint8_t hash[SP_BK_ID_LEN];
	char path[160], hex[2 * SP_BK_ID_LEN + 1];
	size_t slen;
	uint8_t *out;

	if (damaged != NULL)
		*damaged = false;
	kind_path(kind, name, path, sizeof path);
	if (read_whole(repo->dirfd, path, strcmp(kind, SP_BK_KIND_INDEX) == 0 ? INDEX_FILE_MAX : SMALL_FILE_MAX,
		       &sealed, &slen) < 0) {
		int e = errno;

		/* Larger than any file spectrum writes, not a regular file,
		 * a symlink: damaged, like a file that fails its hash (the
		 * caller goes on without it); only a failure to read stops
		 * it.  Else one such file planted in index/ stopped every
		 * command, repair included. */
		if (damaged != NULL && (e == EFBIG || e == EINVAL || e == ELOOP))
			*damaged = true;
		return sp_fail_errno(err, e, "%s/%s", repo->path, path);
	}
	sp_bk_hash(sealed, slen, hash);
	sp_bk_hex(hash, sizeof hash, hex);
	if (strcmp(hex, name) != 0) {
		if (damaged != NULL)
			*damaged = true;
		return sp_fail(err, SP_ERR_RUNTIME, "%s/%s: damaged (its content does not hash to its name)",
			       repo->path, path);
	}
	out = malloc(slen + 1);
	if (out == NULL)
		return sp_fail_errno(err, ENOMEM, "%s/%s", repo->path, path);
	if (sp_bk_open(&repo->keys, sealed, slen, kind, strlen(kind), out, len) < 0) {
		free(out);
		if (damaged != NULL)
			*damaged = true;
		return sp_fail(err, SP_ERR_RUNTIME, "%s/%s: damaged (does not decrypt)", repo->path, path);
	}
	out[*len] = '\0';
	*plain = out;
	return 0;
}

static bool is_hash_name(const char *s)
{
	uint8_t tmp[SP_BK_ID_LEN];

	return sp_bk_unhex(s, tmp, sizeof tmp) == 0;
}

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the hash-named entries of directory PATH to *V. */
static int list_dir(struct sp_bk_repo *repo, const char *path, char ***v, size_t *n, struct sp_err *err)
{
	int fd = openat(repo->dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d;
	struct dirent *e;

	if (fd < 0) {
		if (errno == ENOENT && (strncmp(path, "packs/", 6) == 0 || strcmp(path, SP_BK_KIND_MANIFEST) == 0))
			return 0;
		return sp_fail_errno(err, errno, "%s/%s", repo->path, path);
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return sp_fail_errno(err, errno, "%s/%s", repo->path, path);
	}
	while ((e = readdir(d)) != NULL) {
		char **nv;

		if (!is_hash_name(e->d_name))
			continue;
		nv = realloc(*v, (*n + 2) * sizeof **v);
		if (nv == NULL) {
			closedir(d);
			return sp_fail_errno(err, ENOMEM, "%s/%s", repo->path, path);
		}
		*v = nv;
		(*v)[*n] = strdup(e->d_name);
		(*v)[++*n] = NULL;
	}
	closedir(d);
	return 0;
}

int sp_bk_repo_list(struct sp_bk_repo *repo, const char *kind, char ***names, struct sp_err *err)
{
	char **v = calloc(1, sizeof *v);
	size_t n = 0;

	if (v == NULL)
		return sp_fail_errno(err, ENOMEM, "list");
	if (strcmp(kind, "packs") == 0) {
		for (unsigned i = 0; i < 256; i++) {
			char sub[16];

			snprintf(sub, sizeof sub, "packs/%02x", i);
			if (list_dir(repo, sub, &v, &n, err) < 0)
				goto fail;
		}
	} else if (list_dir(repo, kind, &v, &n, err) < 0) {
		goto fail;
	}
	qsort(v, n, sizeof *v, strv_cmp);
	*names = v;
	return 0;
fail:
	sp_strv_free(v);
	return -1;
}

int sp_bk_repo_remove(struct sp_bk_repo *repo, const char *kind, const char *name, struct sp_err *err)
{
	char path[160];

	kind_path(kind, name, path, sizeof path);
	if (unlinkat(repo->dirfd, path, 0) < 0 && errno != ENOENT)
		return sp_fail_errno(err, errno, "%s/%s", repo->path, path);
	return 0;
}

int sp_bk_repo_sync(struct sp_bk_repo *repo, const char *kind, struct sp_err *err)
{
	if (fsync_dir(repo->dirfd, kind) < 0)
		return sp_fail_errno(err, errno, "%s/%s: fsync", repo->path, kind);
	return 0;
}

int sp_bk_repo_clean_tmp(struct sp_bk_repo *repo, struct sp_err *err)
{
	int fd = openat(repo->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int count = 0;
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return sp_fail_errno(err, errno, "%s/tmp", repo->path);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return sp_fail_errno(err, errno, "%s/tmp", repo->path);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			count++;
	}
	closedir(d);
	return count;
}

/* ---- The keys in the kernel's keyring ---- */

/* Permission bits of keys (keyutils.h has them; the kernel's uapi
 * headers do not). */
#define KEY_POS_VIEW 0x01000000u
#define KEY_POS_READ 0x02000000u
#define KEY_POS_SEARCH 0x08000000u

static void key_desc(const char *id, char *buf, size_t size)
{
	snprintf(buf, size, "spectrum-backup:%s", id);
}

static long find_cached(const char *id)
{
	char desc[64];

	key_desc(id, desc, sizeof desc);
	return syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", desc, 0);
}

/* RAW gets the cached keys of repository ID; false when there are none. */
static bool read_cached(const char *id, uint8_t raw[KEYS_LEN])
{
	long serial = find_cached(id);

	return serial >= 0 && syscall(SYS_keyctl, KEYCTL_READ, serial, raw, KEYS_LEN) == KEYS_LEN;
}

static void pack_keys(const struct sp_bk_keys *k, uint8_t raw[KEYS_LEN])
{
	memcpy(raw, k->enc, SP_BK_KEY_LEN);
	memcpy(raw + SP_BK_KEY_LEN, k->id, SP_BK_KEY_LEN);
	memcpy(raw + 2 * SP_BK_KEY_LEN, k->gear, SP_BK_KEY_LEN);
}

int sp_bk_repo_unlock(struct sp_bk_repo *repo, unsigned seconds, struct sp_err *err)
{
	uint8_t raw[KEYS_LEN];
	char desc[64];
	long serial;

	if (!repo->keys.encrypted)
		return sp_fail(err, SP_ERR_USAGE, "%s: not encrypted: there is nothing to unlock", repo->path);
	key_desc(repo->id, desc, sizeof desc);
	pack_keys(&repo->keys, raw);
	/* A key of that name left by someone else is not updated in place
	 * (its permissions would stay theirs): it goes first. */
	serial = find_cached(repo->id);
	if (serial >= 0)
		syscall(SYS_keyctl, KEYCTL_INVALIDATE, serial);
	serial = syscall(SYS_add_key, "user", desc, raw, sizeof raw, KEY_SPEC_USER_KEYRING);
	sodium_memzero(raw, sizeof raw);
	if (serial < 0)
		return sp_fail_errno(err, errno, "kernel keyring");
	/* Possessor only (view, read, search): a process whose session
	 * keyring does not reach the user keyring (another login, a
	 * daemon with a keyring of its own) can neither read it nor link
	 * it where it would possess it; the user and other columns get
	 * nothing.  The timeout is set first: setting it needs SETATTR. */
	if (syscall(SYS_keyctl, KEYCTL_SET_TIMEOUT, serial, seconds) < 0 ||
	    syscall(SYS_keyctl, KEYCTL_SETPERM, serial, KEY_POS_VIEW | KEY_POS_READ | KEY_POS_SEARCH) < 0) {
		int e = errno;

		syscall(SYS_keyctl, KEYCTL_INVALIDATE, serial);
		return sp_fail_errno(err, e, "kernel keyring");
	}
	return 0;
}

int sp_bk_repo_lock(const char *path, bool *was_unlocked, struct sp_err *err)
{
	cleanup_fd int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_free uint8_t *text = NULL;
	const char *id = NULL;
	json_t *cfg = NULL;
	long serial;
	size_t len;

	*was_unlocked = false;
	if (dirfd < 0)
		return sp_fail_errno(err, errno, "%s", path);
	if (read_whole(dirfd, "config", CONFIG_MAX, &text, &len) < 0)
		return sp_fail_errno(err, errno, "%s/config", path);
	cfg = json_loadb((const char *)text, len, 0, NULL);
	if (cfg == NULL || json_unpack(cfg, "{s:s}", "id", &id) < 0 || !sp_bk_repo_id_valid(id)) {
		json_decref(cfg);
		return sp_fail(err, SP_ERR_RUNTIME, "%s/config: expected an id of %d hex digits", path,
			       SP_BK_REPO_ID_HEX);
	}
	serial = find_cached(id);
	json_decref(cfg);

	*was_unlocked = serial >= 0;
	if (serial >= 0 && syscall(SYS_keyctl, KEYCTL_INVALIDATE, serial) < 0)
		return sp_fail_errno(err, errno, "kernel keyring");
	return 0;
}

/* ---- Config and keys ---- */

bool sp_bk_repo_id_valid(const char *id)
{
	return strlen(id) == SP_BK_REPO_ID_HEX && strspn(id, "0123456789abcdef") == SP_BK_REPO_ID_HEX;
}

static int derive(const char *pass, const uint8_t *salt, unsigned long long ops, size_t mem, uint8_t *key,
		  struct sp_err *err)
{
	if (crypto_pwhash(key, SP_BK_KEY_LEN, pass, strlen(pass), salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "Argon2id: not enough memory for %zu MiB", mem >> 20);
	return 0;
}

static void keys_ad(const char *id, char *ad, size_t size)
{
	snprintf(ad, size, "spectrum backup keys %s", id);
}

/* The MAC of CFG's security fields under RAW (all 96 bytes of keys):
 * BLAKE2b-256 keyed with a key derived from them, over one line per
 * field (doc/backup-format.md).  Only the holder of the keys makes it; a
 * reader checks it after unsealing the keys, and checks keys read back
 * from the kernel keyring against it. */
void sp_bk_config_mac(const uint8_t raw[SP_BK_KEYS_LEN], const struct sp_bk_config *cfg,
		      char out[2 * SP_BK_ID_LEN + 1])
{
	static const char label[] = "spectrum backup config mac key";
	crypto_generichash_state st;
	uint8_t mackey[SP_BK_KEY_LEN], mac[SP_BK_ID_LEN];
	char text[1024];
	int len;

	crypto_generichash_init(&st, raw, SP_BK_KEY_LEN, sizeof mackey);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
	crypto_generichash_update(&st, raw + SP_BK_KEY_LEN, 2 * SP_BK_KEY_LEN);
	crypto_generichash_final(&st, mackey, sizeof mackey);
	len = snprintf(text, sizeof text,
		       "spectrum backup config\nformat %d\nid %s\nencryption %s\nkdf argon2id13 %lld %lld %s\nkeys %s\n",
		       cfg->format, cfg->id, cfg->encrypted ? "xchacha20poly1305" : "none", cfg->ops, cfg->mem, cfg->salt,
		       cfg->keys);
	if (len < 0 || (size_t)len >= sizeof text)
		len = 0; /* cannot happen: every field has a fixed size */
	crypto_generichash(mac, sizeof mac, (const uint8_t *)text, (size_t)len, mackey, sizeof mackey);
	sp_bk_hex(mac, sizeof mac, out);
	sodium_memzero(mackey, sizeof mackey);
	sodium_memzero(&st, sizeof st);
}

/* Copies the text of JSON member KEY of OBJ into OUT (SIZE bytes, the
 * exact length + 1 when EXACT); -1 when missing, not text or not fitting. */
static int get_text(json_t *obj, const char *key, char *out, size_t size, bool exact)
{
	json_t *v = json_object_get(obj, key);
	size_t len;

	if (!json_is_string(v))
		return -1;
	len = json_string_length(v);
	if (len >= size || (exact && len != size - 1) || strlen(json_string_value(v)) != len)
		return -1;
	memcpy(out, json_string_value(v), len + 1);
	return 0;
}

static bool is_hex(const char *s)
{
	return strspn(s, "0123456789abcdef") == strlen(s);
}

int sp_bk_config_decode(const char *path, const void *text, size_t len, struct sp_bk_config *cfg,
			struct sp_err *err)
{
	json_error_t jerr;
	json_t *root, *kdf;
	json_int_t format = 0, ops = 0, mem = 0;
	char enc[32], alg[32];
	int ret = -1;

	memset(cfg, 0, sizeof *cfg);
	root = json_loadb(text, len, 0, &jerr);
	if (root == NULL)
		return sp_fail(err, SP_ERR_RUNTIME, "%s/config: line %d: %s", path, jerr.line, jerr.text);
	if (!json_is_object(root) || json_unpack(root, "{s:I}", "format", &format) < 0) {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: format: expected a number", path);
		goto out;
	}
	if (format > SP_BK_FORMAT) {
		sp_fail(err, SP_ERR_RUNTIME,
			"%s: repository format %lld is newer than this spectrum understands (%d): use a newer spectrum",
			path, (long long)format, SP_BK_FORMAT);
		goto out;
	}
	if (format < 1) {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: format: expected 1 or 2", path);
		goto out;
	}
	cfg->format = (int)format;
	/* The id names files in the store (STORE/.backup/ID) and keys in
	 * the keyring: nothing but what init writes. */
	if (get_text(root, "id", cfg->id, sizeof cfg->id, true) < 0 || !sp_bk_repo_id_valid(cfg->id)) {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: id: expected %d lower-case hex digits", path,
			SP_BK_REPO_ID_HEX);
		goto out;
	}
	if (get_text(root, "encryption", enc, sizeof enc, false) < 0 ||
	    (strcmp(enc, "none") != 0 && strcmp(enc, "xchacha20poly1305") != 0)) {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: encryption: expected \"none\" or \"xchacha20poly1305\"", path);
		goto out;
	}
	cfg->encrypted = strcmp(enc, "none") != 0;
	if (!cfg->encrypted) {
		if (get_text(root, "keys", cfg->keys, 2 * SP_BK_KEYS_LEN + 1, true) < 0 || !is_hex(cfg->keys)) {
			sp_fail(err, SP_ERR_RUNTIME, "%s/config: keys: expected %d bytes of hex", path, SP_BK_KEYS_LEN);
			goto out;
		}
		ret = 0;
		goto out;
	}
	kdf = json_object_get(root, "kdf");
	if (!json_is_object(kdf) || get_text(kdf, "algorithm", alg, sizeof alg, false) < 0 ||
	    strcmp(alg, "argon2id13") != 0 || json_unpack(kdf, "{s:I, s:I}", "opslimit", &ops, "memlimit", &mem) < 0 ||
	    get_text(kdf, "salt", cfg->salt, sizeof cfg->salt, true) < 0 || !is_hex(cfg->salt) ||
	    get_text(root, "keys", cfg->keys, sizeof cfg->keys, true) < 0 || !is_hex(cfg->keys)) {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: kdf/keys: expected Argon2id parameters and sealed keys", path);
		goto out;
	}
	cfg->ops = (long long)ops;
	cfg->mem = (long long)mem;
	/* A forged config could make the passphrase cheap to guess from
	 * what the next run derives, or hang it on memory: refused. */
	if (ops < SP_BK_KDF_MIN_OPS || mem < SP_BK_KDF_MIN_MEM) {
		sp_fail(err, SP_ERR_RUNTIME,
			"%s/config: kdf: Argon2id with %lld passes and %lld KiB is below the floor (%u passes, %u MiB): "
			"refused (a forged config?)",
			path, cfg->ops, cfg->mem / 1024, SP_BK_KDF_MIN_OPS, SP_BK_KDF_MIN_MEM >> 20);
		goto out;
	}
	if (ops > 16 || mem > (1LL << 30)) {
		sp_fail(err, SP_ERR_RUNTIME,
			"%s/config: kdf: Argon2id with %lld passes and %lld MiB is beyond what spectrum writes (16 "
			"passes, 1024 MiB): refused",
			path, cfg->ops, cfg->mem >> 20);
		goto out;
	}
	if (format >= 2 && (get_text(root, "mac", cfg->mac, sizeof cfg->mac, true) < 0 || !is_hex(cfg->mac))) {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: mac: expected 64 hex digits (format 2)", path);
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

/* The JSON of CFG (encrypted, format 2: with its MAC under RAW). */
static json_t *config_json(const uint8_t raw[SP_BK_KEYS_LEN], struct sp_bk_config *cfg)
{
	if (!cfg->encrypted)
		return json_pack("{s:i, s:s, s:s, s:s}", "format", cfg->format, "id", cfg->id, "encryption", "none",
				 "keys", cfg->keys);
	sp_bk_config_mac(raw, cfg, cfg->mac);
	return json_pack("{s:i, s:s, s:s, s:{s:s, s:I, s:I, s:s}, s:s, s:s}", "format", cfg->format, "id", cfg->id,
			 "encryption", "xchacha20poly1305", "kdf", "algorithm", "argon2id13", "opslimit",
			 (json_int_t)cfg->ops, "memlimit", (json_int_t)cfg->mem, "salt", cfg->salt, "keys", cfg->keys,
			 "mac", cfg->mac);
}

/* Seals RAW under PASSPHRASE with a fresh salt: the config of an
 * encrypted repository ID. */
static json_t *seal_config(const char *id, const uint8_t raw[SP_BK_KEYS_LEN], const char *passphrase,
			   struct sp_err *err)
{
	uint8_t salt[crypto_pwhash_SALTBYTES], pkey[SP_BK_KEY_LEN], sealed[SP_BK_KEYS_LEN + SP_BK_SEAL_OVERHEAD];
	struct sp_bk_keys pk = { .encrypted = true };
	struct sp_bk_config cfg = { .format = SP_BK_FORMAT, .encrypted = true, .ops = KDF_OPS, .mem = KDF_MEM };
	char ad[80];
	json_t *out = NULL;

	snprintf(cfg.id, sizeof cfg.id, "%s", id);
	randombytes_buf(salt, sizeof salt);
	if (derive(passphrase, salt, KDF_OPS, KDF_MEM, pkey, err) < 0)
		goto out;
	memcpy(pk.enc, pkey, sizeof pk.enc);
	keys_ad(id, ad, sizeof ad);
	sp_bk_seal(&pk, raw, SP_BK_KEYS_LEN, ad, strlen(ad), sealed);
	sp_bk_hex(sealed, sizeof sealed, cfg.keys);
	sp_bk_hex(salt, sizeof salt, cfg.salt);
	out = config_json(raw, &cfg);
	if (out == NULL)
		sp_fail_errno(err, ENOMEM, "config");
out:
	sodium_memzero(pkey, sizeof pkey);
	sodium_memzero(&pk, sizeof pk);
	return out;
}

/* Writes CFG as DIRFD's config: tmp/config.new, fsync, rename, fsync. */
static int write_config(int dirfd, const char *path, json_t *cfg, struct sp_err *err)
{
	cleanup_free char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);
	const char *tmp = "tmp/config.new";
	int fd;

	if (text == NULL)
		return sp_fail_errno(err, ENOMEM, "%s/config", path);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sp_fail_errno(err, errno, "%s/%s", path, tmp);
	if (sp_bk_write_all(fd, text, strlen(text)) < 0 || sp_bk_write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
		sp_fail_errno(err, errno, "%s/%s", path, tmp);
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, "config") < 0 || fsync(dirfd) < 0)
		return sp_fail_errno(err, errno, "%s/config", path);
	return 0;
}

int sp_bk_repo_init(const char *path, bool encrypt, const struct sp_bk_pass_source *pass, struct sp_err *err)
{
	uint8_t raw[SP_BK_KEYS_LEN], rid[16];
	struct sp_bk_config cfg = { .format = SP_BK_FORMAT };
	char passphrase[PASS_MAX];
	cleanup_fd int dirfd = -1;
	json_t *json = NULL;
	DIR *d;
	struct dirent *e;
	int fd, ret = -1;

	if (sp_bk_crypto_init(err) < 0)
		return -1;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "%s", path);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return sp_fail_errno(err, errno, "%s", path);
	d = fdopendir(dup(dirfd));
	if (d == NULL)
		return sp_fail_errno(err, errno, "%s", path);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			closedir(d);
			if (faccessat(dirfd, "config", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				return sp_fail(err, SP_ERR_RUNTIME, "%s: is a repository already", path);
			return sp_fail(err, SP_ERR_RUNTIME, "%s: not empty (a new repository needs an empty directory)",
				       path);
		}
	}
	closedir(d);
	memset(passphrase, 0, sizeof passphrase);
	if (encrypt && get_passphrase(pass, true, passphrase, sizeof passphrase, err) < 0)
		return -1;

	randombytes_buf(raw, sizeof raw);
	randombytes_buf(rid, sizeof rid);
	sp_bk_hex(rid, sizeof rid, cfg.id);
	if (encrypt) {
		json = seal_config(cfg.id, raw, passphrase, err);
		if (json == NULL)
			goto out;
	} else {
		/* No secret to keep: the sealing key stays unused (zero),
		 * and there is nothing to authenticate the config with. */
		memset(raw, 0, SP_BK_KEY_LEN);
		sp_bk_hex(raw, sizeof raw, cfg.keys);
		json = config_json(raw, &cfg);
		if (json == NULL) {
			sp_fail_errno(err, ENOMEM, "%s/config", path);
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
		if (mkdirat(dirfd, subdirs[i], 0700) < 0 && errno != EEXIST) {
			sp_fail_errno(err, errno, "%s/%s", path, subdirs[i]);
			goto out;
		}
	}
	fd = openat(dirfd, "lock", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		sp_fail_errno(err, errno, "%s/lock", path);
		goto out;
	}
	close(fd);
	/* The config comes last: a directory without one is no repository,
	 * so an interrupted init is never taken for one. */
	if (write_config(dirfd, path, json, err) < 0)
		goto out;
	ret = 0;
out:
	sodium_memzero(raw, sizeof raw);
	sodium_memzero(&cfg, sizeof cfg);
	sodium_memzero(passphrase, sizeof passphrase);
	json_decref(json);
	return ret;
}

static int parse_config(struct sp_bk_repo *repo, const struct sp_bk_pass_source *pass, struct sp_err *err)
{
	cleanup_free uint8_t *text = NULL;
	uint8_t raw[SP_BK_KEYS_LEN], sealed[SP_BK_KEYS_LEN + SP_BK_SEAL_OVERHEAD], salt[crypto_pwhash_SALTBYTES];
	uint8_t pkey[SP_BK_KEY_LEN];
	struct sp_bk_keys pk = { .encrypted = true };
	struct sp_bk_config cfg;
	char passphrase[PASS_MAX], ad[80], mac[2 * SP_BK_ID_LEN + 1];
	size_t len, outlen;
	bool have_keys = false;
	int ret = -1;

	memset(passphrase, 0, sizeof passphrase);
	if (read_whole(repo->dirfd, "config", CONFIG_MAX, &text, &len) < 0) {
		if (errno == ENOENT)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "%s: not a backup repository (no config; make one with `spectrum backup init')",
				       repo->path);
		return sp_fail_errno(err, errno, "%s/config", repo->path);
	}
	if (sp_bk_config_decode(repo->path, text, len, &cfg, err) < 0)
		return -1;
	sp_bk_hash(text, len, repo->config_hash);
	snprintf(repo->id, sizeof repo->id, "%s", cfg.id);
	repo->format = cfg.format;
	repo->keys.encrypted = cfg.encrypted;
	if (!cfg.encrypted) {
		sp_bk_unhex(cfg.keys, raw, sizeof raw);
		goto keys;
	}
	sp_bk_unhex(cfg.salt, salt, sizeof salt);
	sp_bk_unhex(cfg.keys, sealed, sizeof sealed);
	/* Keys cached by `backup unlock' are used only when they make this
	 * config's MAC: anything else in the keyring (stale, or put there
	 * by another process) is passed over. */
	if (cfg.format >= 2 && !(pass != NULL && pass->no_cache) && read_cached(repo->id, raw)) {
		sp_bk_config_mac(raw, &cfg, mac);
		have_keys = sodium_memcmp(mac, cfg.mac, sizeof mac - 1) == 0;
	}
	if (!have_keys) {
		if (get_passphrase(pass, false, passphrase, sizeof passphrase, err) < 0)
			goto out;
		if (derive(passphrase, salt, (unsigned long long)cfg.ops, (size_t)cfg.mem, pkey, err) < 0)
			goto out;
		memcpy(pk.enc, pkey, sizeof pk.enc);
		keys_ad(repo->id, ad, sizeof ad);
		if (sp_bk_open(&pk, sealed, sizeof sealed, ad, strlen(ad), raw, &outlen) < 0 || outlen != sizeof raw) {
			sp_fail(err, SP_ERR_RUNTIME, "%s: wrong passphrase (the repository's keys do not open with it)",
				repo->path);
			goto out;
		}
		if (cfg.format >= 2) {
			sp_bk_config_mac(raw, &cfg, mac);
			if (sodium_memcmp(mac, cfg.mac, sizeof mac - 1) != 0) {
				sp_fail(err, SP_ERR_RUNTIME,
					"%s/config: its MAC does not match: the config was changed by someone without "
					"the keys (format, id, encryption or kdf): refused",
					repo->path);
				goto out;
			}
		}
	}
keys:
	memcpy(repo->keys.enc, raw, SP_BK_KEY_LEN);
	memcpy(repo->keys.id, raw + SP_BK_KEY_LEN, SP_BK_KEY_LEN);
	memcpy(repo->keys.gear, raw + 2 * SP_BK_KEY_LEN, SP_BK_KEY_LEN);
	ret = 0;
out:
	sodium_memzero(raw, sizeof raw);
	sodium_memzero(pkey, sizeof pkey);
	sodium_memzero(&pk, sizeof pk);
	sodium_memzero(&cfg, sizeof cfg);
	sodium_memzero(passphrase, sizeof passphrase);
	return ret;
}

/* Rewrites an encrypted format 1 config (no MAC) as format 2: the same
 * sealed keys and KDF, with the MAC.  Done by writers, which hold the
 * repository alone and have just opened the keys. */
static int upgrade_config(struct sp_bk_repo *repo, struct sp_err *err)
{
	cleanup_free uint8_t *text = NULL;
	struct sp_bk_config cfg;
	uint8_t raw[SP_BK_KEYS_LEN], hash[SP_BK_ID_LEN];
	json_t *out;
	size_t len;
	int ret = -1;

	if (read_whole(repo->dirfd, "config", CONFIG_MAX, &text, &len) < 0)
		return sp_fail_errno(err, errno, "%s/config", repo->path);
	if (sp_bk_config_decode(repo->path, text, len, &cfg, err) < 0)
		return -1;
	/* Only the bytes whose keys were opened get the MAC: a config
	 * swapped in while this waited for the lock (other sealed keys,
	 * salt or KDF) would otherwise be authenticated by it. */
	sp_bk_hash(text, len, hash);
	if (!cfg.encrypted || strcmp(cfg.id, repo->id) != 0 || sodium_memcmp(hash, repo->config_hash, sizeof hash) != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "%s/config: changed while open: refused", repo->path);
	cfg.format = SP_BK_FORMAT;
	pack_keys(&repo->keys, raw);
	out = config_json(raw, &cfg);
	sodium_memzero(raw, sizeof raw);
	if (out == NULL)
		return sp_fail_errno(err, ENOMEM, "%s/config", repo->path);
	if (write_config(repo->dirfd, repo->path, out, err) == 0) {
		repo->format = SP_BK_FORMAT;
		repo->upgraded = true;
		ret = 0;
	}
	json_decref(out);
	return ret;
}

int sp_bk_repo_passwd(struct sp_bk_repo *repo, const struct sp_bk_pass_source *pass, struct sp_err *err)
{
	struct sp_bk_pass_source src = { .file = pass != NULL ? pass->new_file : NULL };
	const char *env = getenv("SPECTRUM_NEW_PASSPHRASE");
	char passphrase[PASS_MAX];
	uint8_t raw[KEYS_LEN];
	json_t *cfg;
	int ret = -1;

	if (!repo->keys.encrypted)
		return sp_fail(err, SP_ERR_USAGE, "%s: not encrypted: it has no passphrase", repo->path);
	memset(passphrase, 0, sizeof passphrase);
	if (src.file == NULL && env != NULL) {
		snprintf(passphrase, sizeof passphrase, "%s", env);
		scrub_env("SPECTRUM_NEW_PASSPHRASE");
		if (passphrase[0] == '\0')
			return sp_fail(err, SP_ERR_USAGE, "the new passphrase is empty");
	} else if (get_passphrase_from(&src, true, false, passphrase, sizeof passphrase, err) < 0) {
		return -1;
	}
	pack_keys(&repo->keys, raw);
	cfg = seal_config(repo->id, raw, passphrase, err);
	sodium_memzero(raw, sizeof raw);
	sodium_memzero(passphrase, sizeof passphrase);
	if (cfg == NULL)
		return -1;
	if (write_config(repo->dirfd, repo->path, cfg, err) == 0) {
		repo->format = SP_BK_FORMAT;
		ret = 0;
	}
	json_decref(cfg);
	return ret;
}

int sp_bk_repo_open(const char *path, bool exclusive, const struct sp_bk_pass_source *pass,
		    struct sp_bk_repo *repo, struct sp_err *err)
{
	memset(repo, 0, sizeof *repo);
	repo->dirfd = -1;
	repo->lockfd = -1;
	if (sp_bk_crypto_init(err) < 0)
		return -1;
	repo->path = strdup(path);
	if (repo->path == NULL)
		return sp_fail_errno(err, ENOMEM, "%s", path);
	repo->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (repo->dirfd < 0) {
		if (errno == ENOENT)
			sp_fail(err, SP_ERR_RUNTIME,
				"%s: no such backup repository (make one with `spectrum backup init --repo %s')", path,
				path);
		else
			sp_fail_errno(err, errno, "%s", path);
		goto fail;
	}
	if (parse_config(repo, pass, err) < 0)
		goto fail;
	/* The keys are in memory from here on: no core dump holds them, and
	 * no process of the same user (not root) may ptrace this one. */
	if (repo->keys.encrypted)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Taken after the passphrase: a wrong one must not wait for a writer. */
	repo->lockfd = openat(repo->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (repo->lockfd < 0 && !(errno == EROFS && !exclusive)) {
		sp_fail_errno(err, errno, "%s/lock", path);
		goto fail;
	}
	if (repo->lockfd >= 0) {
		if (flock(repo->lockfd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
			fprintf(stderr, "spectrum: backup: waiting for another spectrum using %s\n", path);
			if (flock(repo->lockfd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
				sp_fail_errno(err, errno, "%s/lock", path);
				goto fail;
			}
		}
	}
	repo->exclusive = exclusive;
	if (exclusive && repo->keys.encrypted && repo->format < 2 && upgrade_config(repo, err) < 0)
		goto fail;
	return 0;
fail:
	sp_bk_repo_close(repo);
	return -1;
}

void sp_bk_repo_close(struct sp_bk_repo *repo)
{
	if (repo->lockfd >= 0)
		close(repo->lockfd);
	if (repo->dirfd >= 0)
		close(repo->dirfd);
	free(repo->path);
	sodium_memzero(&repo->keys, sizeof repo->keys);
	repo->path = NULL;
	repo->lockfd = repo->dirfd = -1;
}
