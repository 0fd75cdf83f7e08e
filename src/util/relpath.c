#include "util/relpath.h"

#include <stdlib.h>
#include <string.h>

int sp_relpath_init(struct sp_relpath *p)
{
	p->s = calloc(1, 256);
	p->len = 0;
	p->cap = p->s ? 256 : 0;
	return p->s ? 0 : -1;
}

int sp_relpath_push(struct sp_relpath *p, const char *name, size_t *old)
{
	size_t n = strlen(name), need = p->len + 1 + n + 1;

	if (need > p->cap) {
		size_t cap = p->cap ? p->cap : 256;
		char *s;

		while (cap < need)
			cap *= 2;
		s = realloc(p->s, cap);
		if (!s)
			return -1;
		p->s = s;
		p->cap = cap;
	}
	*old = p->len;
	if (p->len > 0)
		p->s[p->len++] = '/';
	memcpy(p->s + p->len, name, n + 1);
	p->len += n;
	return 0;
}

void sp_relpath_pop(struct sp_relpath *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}

void sp_relpath_free(struct sp_relpath *p)
{
	free(p->s);
	*p = (struct sp_relpath){ 0 };
}
