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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "backup/bytes.h"
#include "util/cleanup.h"
#include "util/strv.h"

#define KEYS_LEN (3 * SP_BK_KEY_LEN)
#define KDF_OPS 3u
#define KDF_MEM (128u * 1024 * 1024)
#define PASS_MAX 1024

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

static int get_passphrase(const struct sp_bk_pass_source *src, bool twice, char *buf, size_t size,
			  struct sp_err *err)
{
	const char *env = getenv("SPECTRUM_PASSPHRASE");

	if (src != NULL && src->file != NULL) {
		cleanup_file FILE *f = fopen(src->file, "re");

		if (f == NULL)
			return sp_fail_errno(err, errno, "passphrase file `%s'", src->file);
		if (fgets(buf, (int)size, f) == NULL)
			buf[0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	} else if (env != NULL) {
		snprintf(buf, size, "%s", env);
	} else {
		char again[PASS_MAX];

		if (read_tty_line("Passphrase: ", buf, size, err) < 0)
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
		snprintf(dir, sizeof dir, "%s", kind);
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

static int read_whole(int dirfd, const char *path, uint8_t **buf, size_t *len)
{
	cleanup_fd int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	size_t got = 0;
	uint8_t *b;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
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
	if (read_whole(repo->dirfd, path, &sealed, &slen) < 0)
		return sp_fail_errno(err, errno, "%s/%s", repo->path, path);
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
		if (errno == ENOENT && strncmp(path, "packs/", 6) == 0)
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
	serial = syscall(SYS_add_key, "user", desc, raw, sizeof raw, KEY_SPEC_USER_KEYRING);
	sodium_memzero(raw, sizeof raw);
	if (serial < 0)
		return sp_fail_errno(err, errno, "kernel keyring");
	/* Only this user (and nothing it does not possess) may use it. */
	if (syscall(SYS_keyctl, KEYCTL_SETPERM, serial, 0x3f3f0000u) < 0 ||
	    syscall(SYS_keyctl, KEYCTL_SET_TIMEOUT, serial, seconds) < 0) {
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
	if (read_whole(dirfd, "config", &text, &len) < 0)
		return sp_fail_errno(err, errno, "%s/config", path);
	cfg = json_loadb((const char *)text, len, 0, NULL);
	if (cfg == NULL || json_unpack(cfg, "{s:s}", "id", &id) < 0) {
		json_decref(cfg);
		return sp_fail(err, SP_ERR_RUNTIME, "%s/config: expected an id", path);
	}
	serial = find_cached(id);
	json_decref(cfg);

	*was_unlocked = serial >= 0;
	if (serial >= 0 && syscall(SYS_keyctl, KEYCTL_INVALIDATE, serial) < 0)
		return sp_fail_errno(err, errno, "kernel keyring");
	return 0;
}

/* ---- Config and keys ---- */

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

int sp_bk_repo_init(const char *path, bool encrypt, const struct sp_bk_pass_source *pass, struct sp_err *err)
{
	uint8_t raw[KEYS_LEN], rid[16], salt[crypto_pwhash_SALTBYTES], pkey[SP_BK_KEY_LEN];
	uint8_t sealed[KEYS_LEN + SP_BK_SEAL_OVERHEAD];
	char id[33], hex[2 * sizeof sealed + 1], salthex[2 * sizeof salt + 1], ad[80], tmp[64];
	char passphrase[PASS_MAX];
	struct sp_bk_keys pk = { .encrypted = true };
	cleanup_fd int dirfd = -1;
	cleanup_free char *text = NULL;
	json_t *cfg = NULL;
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
	if (encrypt && get_passphrase(pass, true, passphrase, sizeof passphrase, err) < 0)
		return -1;

	randombytes_buf(raw, sizeof raw);
	randombytes_buf(rid, sizeof rid);
	sp_bk_hex(rid, sizeof rid, id);
	keys_ad(id, ad, sizeof ad);
	if (encrypt) {
		randombytes_buf(salt, sizeof salt);
		if (derive(passphrase, salt, KDF_OPS, KDF_MEM, pkey, err) < 0)
			goto out;
		memcpy(pk.enc, pkey, sizeof pk.enc);
		sp_bk_seal(&pk, raw, sizeof raw, ad, strlen(ad), sealed);
		sp_bk_hex(sealed, sizeof sealed, hex);
		sp_bk_hex(salt, sizeof salt, salthex);
		cfg = json_pack("{s:i, s:s, s:s, s:{s:s, s:I, s:I, s:s}, s:s}", "format", SP_BK_FORMAT, "id", id,
				"encryption", "xchacha20poly1305", "kdf", "algorithm", "argon2id13", "opslimit",
				(json_int_t)KDF_OPS, "memlimit", (json_int_t)KDF_MEM, "salt", salthex, "keys", hex);
	} else {
		/* No secret to keep: the sealing key stays unused (zero). */
		memset(raw, 0, SP_BK_KEY_LEN);
		sp_bk_hex(raw, sizeof raw, hex);
		cfg = json_pack("{s:i, s:s, s:s, s:s}", "format", SP_BK_FORMAT, "id", id, "encryption", "none", "keys",
				hex);
	}
	if (cfg == NULL || (text = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
		sp_fail_errno(err, ENOMEM, "%s/config", path);
		goto out;
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
	snprintf(tmp, sizeof tmp, "tmp/config.new");
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		sp_fail_errno(err, errno, "%s/%s", path, tmp);
		goto out;
	}
	if (sp_bk_write_all(fd, text, strlen(text)) < 0 || sp_bk_write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
		sp_fail_errno(err, errno, "%s/%s", path, tmp);
		close(fd);
		goto out;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, "config") < 0 || fsync(dirfd) < 0) {
		sp_fail_errno(err, errno, "%s/config", path);
		goto out;
	}
	ret = 0;
out:
	sodium_memzero(raw, sizeof raw);
	sodium_memzero(pkey, sizeof pkey);
	sodium_memzero(&pk, sizeof pk);
	sodium_memzero(passphrase, sizeof passphrase);
	json_decref(cfg);
	return ret;
}

static int parse_config(struct sp_bk_repo *repo, const struct sp_bk_pass_source *pass, struct sp_err *err)
{
	cleanup_free uint8_t *text = NULL;
	uint8_t raw[KEYS_LEN], sealed[KEYS_LEN + SP_BK_SEAL_OVERHEAD], salt[crypto_pwhash_SALTBYTES];
	uint8_t pkey[SP_BK_KEY_LEN];
	struct sp_bk_keys pk = { .encrypted = true };
	char passphrase[PASS_MAX], ad[80];
	const char *id = NULL, *enc = NULL, *keys = NULL, *alg = NULL, *salthex = NULL;
	json_int_t format = 0, ops = 0, mem = 0;
	json_error_t jerr;
	json_t *cfg;
	size_t len, outlen;
	int ret = -1;

	if (read_whole(repo->dirfd, "config", &text, &len) < 0) {
		if (errno == ENOENT)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "%s: not a backup repository (no config; make one with `spectrum backup init')",
				       repo->path);
		return sp_fail_errno(err, errno, "%s/config", repo->path);
	}
	cfg = json_loadb((const char *)text, len, 0, &jerr);
	if (cfg == NULL)
		return sp_fail(err, SP_ERR_RUNTIME, "%s/config: line %d: %s", repo->path, jerr.line, jerr.text);
	if (json_unpack(cfg, "{s:I}", "format", &format) < 0) {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: format: expected a number", repo->path);
		goto out;
	}
	if (format > SP_BK_FORMAT) {
		sp_fail(err, SP_ERR_RUNTIME,
			"%s: repository format %lld is newer than this spectrum understands (%d): use a newer spectrum",
			repo->path, (long long)format, SP_BK_FORMAT);
		goto out;
	}
	if (format < 1 || json_unpack_ex(cfg, &jerr, 0, "{s:s, s:s, s:s}", "id", &id, "encryption", &enc, "keys",
					 &keys) < 0 || strlen(id) != 32) {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: %s", repo->path,
			format < 1 ? "format: expected 1" : "expected id, encryption and keys");
		goto out;
	}
	snprintf(repo->id, sizeof repo->id, "%s", id);
	if (strcmp(enc, "none") == 0) {
		if (sp_bk_unhex(keys, raw, sizeof raw) < 0) {
			sp_fail(err, SP_ERR_RUNTIME, "%s/config: keys: expected %zu bytes of hex", repo->path, sizeof raw);
			goto out;
		}
		repo->keys.encrypted = false;
	} else if (strcmp(enc, "xchacha20poly1305") == 0) {
		if (json_unpack(cfg, "{s:{s:s, s:I, s:I, s:s}}", "kdf", "algorithm", &alg, "opslimit", &ops, "memlimit",
				&mem, "salt", &salthex) < 0 ||
		    strcmp(alg, "argon2id13") != 0 || ops < 1 || ops > 16 || mem < 8192 || mem > (1LL << 30) ||
		    sp_bk_unhex(salthex, salt, sizeof salt) < 0 || sp_bk_unhex(keys, sealed, sizeof sealed) < 0) {
			sp_fail(err, SP_ERR_RUNTIME, "%s/config: kdf/keys: expected Argon2id parameters and sealed keys",
				repo->path);
			goto out;
		}
		if ((pass != NULL && pass->no_cache) || !read_cached(repo->id, raw)) {
			if (get_passphrase(pass, false, passphrase, sizeof passphrase, err) < 0)
				goto out;
			if (derive(passphrase, salt, (unsigned long long)ops, (size_t)mem, pkey, err) < 0)
				goto out;
			memcpy(pk.enc, pkey, sizeof pk.enc);
			keys_ad(repo->id, ad, sizeof ad);
			if (sp_bk_open(&pk, sealed, sizeof sealed, ad, strlen(ad), raw, &outlen) < 0 ||
			    outlen != sizeof raw) {
				sp_fail(err, SP_ERR_RUNTIME,
					"%s: wrong passphrase (the repository's keys do not open with it)", repo->path);
				goto out;
			}
		}
		repo->keys.encrypted = true;
	} else {
		sp_fail(err, SP_ERR_RUNTIME, "%s/config: encryption: expected \"none\" or \"xchacha20poly1305\"",
			repo->path);
		goto out;
	}
	memcpy(repo->keys.enc, raw, SP_BK_KEY_LEN);
	memcpy(repo->keys.id, raw + SP_BK_KEY_LEN, SP_BK_KEY_LEN);
	memcpy(repo->keys.gear, raw + 2 * SP_BK_KEY_LEN, SP_BK_KEY_LEN);
	ret = 0;
out:
	sodium_memzero(raw, sizeof raw);
	sodium_memzero(pkey, sizeof pkey);
	sodium_memzero(&pk, sizeof pk);
	sodium_memzero(passphrase, sizeof passphrase);
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
