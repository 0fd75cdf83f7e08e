/* Reading strings out of jansson values, for every JSON reader. */
#pragma once

#include <jansson.h>
#include <string.h>

/* The text of V, or NULL when V is not a string or holds a NUL byte
 * (which a C string could not pass on intact). */
static inline const char *sp_json_text(const json_t *v)
{
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return NULL;
	return s;
}
