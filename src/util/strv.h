/* NULL-terminated string vectors, and formatted allocation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Appends a copy of S to *V (which may be NULL); keeps the NULL at the
 * end.  Returns -1 on allocation failure. */
int sp_strv_push(char ***v, const char *s);

size_t sp_strv_len(char *const *v);
bool sp_strv_contains(char *const *v, const char *s);
void sp_strv_free(char **v);

/* asprintf that returns NULL on failure. */
__attribute__((format(printf, 1, 2)))
char *sp_printf(const char *fmt, ...);

/* Runs ARGV (PATH lookup), captures its stdout (up to 64 MiB) into a
 * NUL-terminated *OUT, and its stderr's first line into ERR on failure.
 * ENV_EXTRA, when not NULL, is "KEY=VALUE" added to the environment. */
struct sp_err;
int sp_capture(char *const argv[], const char *env_extra, char **out, struct sp_err *err);
