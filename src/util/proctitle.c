#include <string.h>

#include "util/proctitle.h"

/* The one piece of process-wide state: the argument area belongs to the
 * process, not to any caller. */
static char *area;
static size_t area_len;

void sp_proctitle_init(int argc, char **argv)
{
	if (argc < 1 || !argv[0])
		return;
	area = argv[0];
	area_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
}

void sp_proctitle_set(const char *title)
{
	size_t n;

	if (!area || area_len < 2)
		return;
	memset(area, 0, area_len);
	n = strlen(title);
	if (n > area_len - 1)
		n = area_len - 1;
	memcpy(area, title, n);
}
