#include "util/err.h"

#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 2, 0)))
static void set_msg(struct sp_err *err, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int sp_fail_errno(struct sp_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	err->kind = SP_ERR_RUNTIME;
	err->errnum = errnum;
	va_start(ap, fmt);
	set_msg(err, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	if (errnum != 0 && len < sizeof err->msg)
		snprintf(err->msg + len, sizeof err->msg - len, ": %s", strerror(errnum));
	return -1;
}

int sp_fail(struct sp_err *err, enum sp_err_kind kind, const char *fmt, ...)
{
	va_list ap;

	err->kind = kind;
	err->errnum = 0;
	va_start(ap, fmt);
	set_msg(err, fmt, ap);
	va_end(ap);
	return -1;
}

int sp_err_wrap(struct sp_err *err, const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof err->msg];
	size_t plen, olen;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	old[sizeof old - 1] = '\0';
	/* Truncation keeps the start of both: the context and the cause. */
	plen = strlen(prefix);
	olen = strlen(old);
	if (plen + 2 + olen >= sizeof err->msg)
		olen = sizeof err->msg - 1 - plen - 2;
	memcpy(err->msg, prefix, plen);
	memcpy(err->msg + plen, ": ", 2);
	memcpy(err->msg + plen + 2, old, olen);
	err->msg[plen + 2 + olen] = '\0';
	if (err->kind == 0)
		err->kind = SP_ERR_RUNTIME;
	return -1;
}
