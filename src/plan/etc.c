/* A minimal /etc generated for each instance: enough for libc to name the
 * user and the host, and nothing of the host's own /etc (no shadow, no
 * machine-id, no resolver secrets). */
#include <errno.h>
#include <stdlib.h>

#include "net/addr.h"
#include "plan/plan-internal.h"
#include "util/strv.h"

static int add_file(struct sp_plan *plan, const char *target, char *content, struct sp_err *err)
{
	int r;

	if (!content)
		return sp_fail_errno(err, ENOMEM, "plan");
	r = sp_plan_add(plan, SP_MNT_FILE, SP_ORIGIN_SYSTEM, content, target, true);
	free(content);
	return r < 0 ? sp_fail_errno(err, ENOMEM, "plan") : 0;
}

int sp_plan_etc(const struct sp_instance *inst, struct sp_plan *plan, struct sp_err *err)
{
	const char *shell = inst->software_host ? "/bin/sh" : "/noshell";

	if (add_file(plan, "/etc/passwd",
		     sp_printf("root:x:0:0:root:/nonexistent:/noshell\n"
			       "user:x:%d:%d:%s:%s:%s\n"
			       "nobody:x:65534:65534:nobody:/nonexistent:/noshell\n",
			       SP_INNER_UID, SP_INNER_GID, inst->name, SP_INNER_HOME, shell), err) < 0 ||
	    add_file(plan, "/etc/group",
		     sp_printf("root:x:0:\nuser:x:%d:\nnogroup:x:65534:\n", SP_INNER_GID), err) < 0 ||
	    add_file(plan, "/etc/hosts",
		     sp_printf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
			       inst->name), err) < 0 ||
	    add_file(plan, "/etc/hostname", sp_printf("%s\n", inst->name), err) < 0 ||
	    add_file(plan, "/etc/nsswitch.conf",
		     sp_printf("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
			       "networks: files\nprotocols: files\nservices: files\n"), err) < 0)
		return -1;
	/* A client asks its provider, which may forward or answer itself. */
	if (inst->net.provider &&
	    add_file(plan, "/etc/resolv.conf", sp_printf("nameserver %s\n", SP_NET_PROVIDER_ADDR), err) < 0)
		return -1;
	return 0;
}
