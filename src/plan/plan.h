/* The plan: the ordered setup of one instance as plain data (DESIGN.md,
 * "Parts").  It is built from the configuration model and the store without
 * touching the kernel, printed by `inspect`, asserted on by unit tests, and
 * executed by an engine. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/model.h"
#include "net/addr.h"
#include "store/store.h"
#include "util/err.h"

#define SP_INNER_UID 1000
#define SP_INNER_GID 1000
#define SP_INNER_HOME "/home/user"

/* What the default limits are computed from (src/plan/limits.c). */
#define SP_CPU_PERIOD_US 100000

struct sp_host_facts {
	uint64_t ram_bytes; /* MemTotal */
	uint64_t pid_max;   /* kernel.pid_max */
	uint64_t file_max;  /* fs.file-max */
};

enum sp_mount_kind {
	SP_MNT_BIND,    /* host path SOURCE at TARGET */
	SP_MNT_HOME,    /* the instance's state/NAME at TARGET, idmapped */
	SP_MNT_GRANT,   /* data/SOURCE at TARGET, idmapped */
	SP_MNT_TMPFS,   /* a fresh tmpfs */
	SP_MNT_PROC,    /* a new procfs for the instance's pid namespace */
	SP_MNT_DEVPTS,  /* a private devpts instance */
	SP_MNT_DEV,     /* host device node SOURCE bound at TARGET */
	SP_MNT_SYMLINK, /* a symlink at TARGET pointing to SOURCE */
	SP_MNT_FILE,    /* a generated file at TARGET with content SOURCE */
	SP_MNT_MASK,    /* /dev/null over TARGET (a file to hide in /proc) */
	SP_MNT_RO_REMOUNT, /* make the existing TARGET read-only */
};

/* Why a mount is there, for `inspect`. */
enum sp_mount_origin {
	SP_ORIGIN_SYSTEM,
	SP_ORIGIN_SOFTWARE,
	SP_ORIGIN_HOME,
	SP_ORIGIN_GRANT,
};

struct sp_mount {
	enum sp_mount_kind kind;
	enum sp_mount_origin origin;
	char *source;
	char *target; /* absolute, inside the instance */
	bool readonly;
	bool optional; /* SP_MNT_BIND/DEV/MASK: skip when the host lacks it */
};

/* Which limits of struct sp_limits are defaults, not declared. */
enum {
	SP_LIMIT_DEFAULT_MEMORY = 1u << 0,
	SP_LIMIT_DEFAULT_PIDS = 1u << 1,
	SP_LIMIT_DEFAULT_FILES = 1u << 2,
	SP_LIMIT_DEFAULT_TMP = 1u << 3,
	SP_LIMIT_DEFAULT_SHM = 1u << 4,
};

/* Every instance has them all but cpu (DESIGN.md, "Default limits"). */
struct sp_limits {
	uint64_t memory_bytes;    /* memory.max (RAM and, at 0 swap, all of it) */
	uint64_t cpu_quota_us;    /* per cpu_period_us; 0 = none */
	uint64_t cpu_period_us;
	uint64_t pids;            /* pids.max */
	uint64_t files;           /* RLIMIT_NOFILE, soft and hard */
	uint64_t tmp_bytes;       /* size= of the /tmp tmpfs */
	uint64_t shm_bytes;       /* size= of the /dev/shm tmpfs */
	/* Ceilings of the cgroup "spectrum" that holds every instance of
	 * the host: whatever their own limits, all of them together leave
	 * the host this much room.  0 = none (not written). */
	uint64_t all_memory_bytes;
	uint64_t all_pids;
	unsigned defaulted;       /* SP_LIMIT_DEFAULT_* */
};

enum sp_net_role {
	SP_NET_ROLE_NONE,     /* loopback only */
	SP_NET_ROLE_CLIENT,   /* eth0, linked to its provider's bridge */
	SP_NET_ROLE_PROVIDER, /* a bridge for clients at SP_NET_PROVIDER_ADDR */
};

/* A link's name, at most IFNAMSIZ - 1 bytes. */
#define SP_LINK_NAME_MAX 16

struct sp_plan_peer {
	char *name;
	char port[SP_LINK_NAME_MAX]; /* its link's end in the provider */
	char addr[16];
};

/* The network of an instance (DESIGN.md, "Networking").  The provider
 * side of a client's link, its filter rules and, for a provider, the
 * uplink are made by the engine (src/net/attach.c) from this. */
struct sp_plan_net {
	enum sp_net_role role;
	/* SP_NET_ROLE_CLIENT */
	char *provider;              /* the provider's instance name */
	uint8_t mac[6];
	char mac_text[18];
	char addr[16];               /* "100.64.X.Y", prefix SP_NET_PREFIX_LEN */
	char port[SP_LINK_NAME_MAX]; /* the end of its link in the provider */
	struct sp_plan_peer *peers;
	size_t n_peers;
	bool allow_any;              /* no egress policy: anything the uplink takes */
	struct sp_net_allow *allow;
	size_t n_allow;
	/* SP_NET_ROLE_PROVIDER */
	enum sp_uplink uplink;
};

struct sp_plan {
	char *name;
	char *id;          /* NAME.HASH: unique per store on this host (cgroups) */
	char *hostname;
	char *home_source; /* host path of state/NAME, for messages */
	struct sp_mount *mounts; /* in the order they are made */
	size_t n_mounts;
	char **software;   /* NULL-terminated: "host" and/or every store path of the closures */
	char **argv;       /* NULL-terminated, argv[0] resolved to an absolute path */
	char **envp;       /* NULL-terminated, the whole environment */
	char *cwd;
	uid_t uid;         /* inside the instance */
	gid_t gid;
	struct sp_limits limits;
	struct sp_plan_net net;
	enum sp_isolation isolation;
	/* isolation "vm": the machine.  The mounts above say what the guest
	 * sees; the VM engine turns them into virtiofs shares. */
	uint64_t vm_memory;
	unsigned vm_vcpus;
	char *vm_kernel; /* NULL: the newest /boot/vmlinuz-* */
};

/* Builds the plan of INST.  COMMAND, when not NULL, replaces the
 * configured argv (`spectrum run NAME -- CMD...`).  TERM, when not NULL, is
 * passed into the environment (interactive use). */
int sp_plan_build(const struct sp_instance *inst, const struct sp_store *store,
		  char *const *command, const char *term, struct sp_plan *plan,
		  struct sp_err *err);

void sp_plan_free(struct sp_plan *plan);

/* The host's RAM, pid_max and file-max, from /proc; what cannot be read
 * is taken small (1 GiB, 32768, 65536), which only makes defaults lower. */
void sp_host_facts_read(struct sp_host_facts *h);

/* The limits of INST on a host with facts H: what it declares, and the
 * defaults for the rest (limits.c says how each is chosen). */
void sp_plan_limits(const struct sp_instance *inst, const struct sp_host_facts *h, struct sp_limits *out);

/* NAME.HASH, where HASH comes from the store's path: what names the
 * instance's cgroups, host-wide.  malloc'ed. */
char *sp_instance_id(const struct sp_store *store, const char *name);

const char *sp_mount_kind_name(enum sp_mount_kind kind);
const char *sp_mount_origin_name(enum sp_mount_origin origin);
