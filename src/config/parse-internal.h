/* What the parts of the JSON walk share (parse.c, parse-net.c): the key
 * path of the value at hand, and the one-line error that names it. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "config/model.h"
#include "util/err.h"

#define KEY_PATH_MAX 400
#define KEY_SHOWN_MAX 64    /* bytes of one key shown in a key path */
#define VALUE_SHOWN_MAX 64  /* bytes of a value shown in a message */
#define VALUE_BUF (VALUE_SHOWN_MAX * 4 + 8)

struct ctx {
	const char *file;
	struct sp_err *err;
	char path[KEY_PATH_MAX];
	size_t len;
};

/* Each push returns the length to give back to cfg_pop(); on an error the
 * walk ends, so error paths do not pop. */
size_t cfg_push_key(struct ctx *c, const char *key);
size_t cfg_push_index(struct ctx *c, size_t index);
void cfg_pop(struct ctx *c, size_t old);

/* S quoted for a message: escaped, on one line, and cut short. */
const char *cfg_shown(char buf[static VALUE_BUF], const char *s);

/* "FILE: KEY.PATH: WHAT"; returns -1. */
__attribute__((format(printf, 2, 3)))
int cfg_fail(struct ctx *c, const char *fmt, ...);
int cfg_oom(struct ctx *c);
int cfg_copy_string(struct ctx *c, char **dst, const char *s);

/* "net", "provides" and "uplink" of one instance (parse-net.c). */
int cfg_parse_net(struct ctx *c, json_t *v, struct sp_instance *inst);
int cfg_parse_provides(struct ctx *c, json_t *v, struct sp_instance *inst);
int cfg_parse_uplink(struct ctx *c, json_t *v, struct sp_instance *inst);

/* What joins instances: every provider named exists and provides net,
 * peers list each other, uplinks only on providers; then each client's
 * MAC (and its peers') is assigned.  ROOT is the configuration's JSON,
 * for key paths. */
int cfg_check_net(struct ctx *c, struct sp_config *cfg);
