/* Errors as values: a function that can fail takes `struct sp_err *err`,
 * fills it once where the failure happens, and returns -1.  Callers add
 * context with sp_err_wrap() on the way up; only the command line prints,
 * once, in one line. */
#pragma once

#include <stdarg.h>

enum sp_err_kind {
	SP_ERR_RUNTIME = 1, /* exit status 1 */
	SP_ERR_USAGE = 2,   /* exit status 2: bad usage or bad configuration */
};

struct sp_err {
	enum sp_err_kind kind;
	int errnum; /* errno of the failing call, 0 if none */
	char msg[1024];
};

/* Sets a run-time error with errno's text appended ("what: strerror").
 * Always returns -1. */
__attribute__((format(printf, 3, 4)))
int sp_fail_errno(struct sp_err *err, int errnum, const char *fmt, ...);

/* Sets an error of the given kind with no errno.  Always returns -1. */
__attribute__((format(printf, 3, 4)))
int sp_fail(struct sp_err *err, enum sp_err_kind kind, const char *fmt, ...);

/* Prepends "context: " to the message already there.  Returns -1. */
__attribute__((format(printf, 2, 3)))
int sp_err_wrap(struct sp_err *err, const char *fmt, ...);

static inline void sp_err_clear(struct sp_err *err)
{
	err->kind = 0;
	err->errnum = 0;
	err->msg[0] = '\0';
}
