#include <stdbool.h>
#include <string.h>

#include "config/model.h"
#include "config/validate.h"

#define STORE_DIR "/nix/store/"
#define STORE_HASH_LEN 32
/* Nix's own limit on the name part of a store path. */
#define STORE_NAME_MAX 211

/* Where the engine mounts the system: a grant there would hide or replace
 * what the instance is promised (its software, /proc, /dev) or what the
 * engine relies on, so it is refused rather than ordered around. */
static const char *const reserved_trees[] = {
	"/proc", "/dev", "/sys", "/nix", "/usr", "/etc", "/bin", "/sbin",
	"/lib", "/lib64", "/lib32", "/libx32", "/tmp", "/run",
};

/* The instance's home is its own state directory; grants may go beneath
 * it, but not replace it. */
#define RESERVED_HOME "/home/user"

static bool is_lower_or_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool sp_name_valid(const char *name)
{
	size_t len;

	if (!name || !is_lower_or_digit(name[0]))
		return false;
	for (len = 1; name[len]; len++) {
		if (len >= SP_NAME_MAX)
			return false;
		if (!is_lower_or_digit(name[len]) && name[len] != '-')
			return false;
	}
	return true;
}

/* Walks the '/'-separated components of TEXT, which has no leading '/'. */
static const char *check_components(const char *text)
{
	const char *p = text;

	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 0)
			return "expected a path without empty components (\"a//b\" or a trailing \"/\")";
		if (len == 1 && p[0] == '.')
			return "expected a path without \".\" components";
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return "expected a path without \"..\" components";
		if (*end == '\0')
			return NULL;
		p = end + 1;
	}
}

const char *sp_check_grant_path(const char *text)
{
	if (text[0] == '\0')
		return "expected a non-empty path relative to the data directory";
	if (text[0] == '/')
		return "expected a path relative to the data directory, not an absolute path";
	if (strlen(text) > SP_CONFIG_PATH_MAX)
		return "expected a path of at most 4096 bytes";
	return check_components(text);
}

const char *sp_check_target(const char *text)
{
	if (text[0] != '/')
		return "expected an absolute path inside the instance";
	if (text[1] == '\0')
		return "expected a path beneath \"/\", not \"/\" itself";
	if (strlen(text) > SP_CONFIG_PATH_MAX)
		return "expected a path of at most 4096 bytes";
	return check_components(text + 1);
}

const char *sp_reserved_target(const char *text)
{
	for (size_t i = 0; i < sizeof reserved_trees / sizeof reserved_trees[0]; i++) {
		const char *tree = reserved_trees[i];
		size_t len = strlen(tree);

		/* Compare whole components: "/usrlocal" is not beneath "/usr". */
		if (strncmp(text, tree, len) == 0 && (text[len] == '\0' || text[len] == '/'))
			return tree;
	}
	if (strcmp(text, RESERVED_HOME) == 0)
		return RESERVED_HOME;
	return NULL;
}

static bool is_nix_base32(char c)
{
	/* Nix's alphabet leaves out e, o, t and u. */
	return (c >= '0' && c <= '9') ||
	       (c >= 'a' && c <= 'z' && c != 'e' && c != 'o' && c != 't' && c != 'u');
}

static bool is_store_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("+-._?=", c) != NULL;
}

bool sp_store_path_valid(const char *text)
{
	const char *p;
	size_t len;

	if (strncmp(text, STORE_DIR, strlen(STORE_DIR)) != 0)
		return false;
	p = text + strlen(STORE_DIR);
	for (size_t i = 0; i < STORE_HASH_LEN; i++)
		if (!is_nix_base32(p[i]))
			return false;
	p += STORE_HASH_LEN;
	if (*p++ != '-')
		return false;
	/* The name; a '/' is not in the set, so only top-level paths pass. */
	for (len = 0; p[len]; len++)
		if (!is_store_name_char(p[len]))
			return false;
	return len >= 1 && len <= STORE_NAME_MAX;
}

static bool is_env_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool sp_env_name_valid(const char *text)
{
	if (!is_env_start(text[0]))
		return false;
	for (size_t i = 1; text[i]; i++)
		if (!is_env_start(text[i]) && !(text[i] >= '0' && text[i] <= '9'))
			return false;
	return true;
}

bool sp_env_name_reserved(const char *text)
{
	return strcmp(text, "HOME") == 0 || strcmp(text, "USER") == 0 ||
	       strcmp(text, "LOGNAME") == 0;
}
