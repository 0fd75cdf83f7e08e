/* Scope-based cleanup, in the manner of bubblewrap's utils.h: a variable
 * declared with one of these is released when it leaves scope, on every
 * path.  steal_ptr()/steal_fd() hand ownership on. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void sp_freep(void *p)
{
	free(*(void **)p);
}

static inline void sp_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void sp_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define cleanup_free __attribute__((cleanup(sp_freep)))
#define cleanup_fd __attribute__((cleanup(sp_closep)))
#define cleanup_file __attribute__((cleanup(sp_fclosep)))

static inline void *steal_ptr(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}

static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}
