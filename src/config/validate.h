/* String checks for the configuration parser, kept apart from the JSON walk
 * so that each rule reads on its own and can be tested directly.  Each
 * check that can fail for several reasons returns NULL when the text is
 * acceptable, or the words "expected ..." for the message. */
#pragma once

#include <stdbool.h>

#define SP_CONFIG_PATH_MAX 4096

/* A grant's "path": relative to the data directory, normalised. */
const char *sp_check_grant_path(const char *text);

/* A grant's "at": absolute, normalised, not "/".  Does not look at the
 * system paths; see sp_reserved_target(). */
const char *sp_check_target(const char *text);

/* The system path that TEXT equals or lies beneath (for "/home/user":
 * equals), or NULL when TEXT is free for a grant. */
const char *sp_reserved_target(const char *text);

/* "/nix/store/" + 32 characters of Nix's base32 + "-" + a name. */
bool sp_store_path_valid(const char *text);

/* [A-Za-z_][A-Za-z0-9_]* */
bool sp_env_name_valid(const char *text);

/* HOME, USER, LOGNAME: the engine sets them for the instance's user. */
bool sp_env_name_reserved(const char *text);
