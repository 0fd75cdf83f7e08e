/* The typed in-memory model of a configuration (DESIGN.md, "The
 * configuration").  Everything here has been validated: names match the
 * pattern, sizes are numbers, grant paths are relative and free of "..",
 * targets are absolute and unique.  Engines never see raw JSON. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SP_NAME_MAX 63

enum sp_isolation {
	SP_ISOLATION_CONTAINER,
	SP_ISOLATION_VM,
};

enum sp_grant_mode {
	SP_GRANT_RO,
	SP_GRANT_RW,
};

enum sp_restart {
	SP_RESTART_NO,
	SP_RESTART_ON_FAILURE,
	SP_RESTART_ALWAYS,
};

struct sp_grant {
	char *path; /* relative to the store's data/, normalised, no ".." */
	char *at;   /* absolute path inside the instance, normalised */
	enum sp_grant_mode mode;
};

struct sp_env_var {
	char *key;
	char *value;
};

/* What the configuration says; 0 means "not declared", and the plan then
 * puts the default in (src/plan/limits.c: every instance has limits). */
struct sp_resources {
	uint64_t memory; /* bytes */
	double cpus;     /* CPUs' worth of time; 0 = no limit */
	uint64_t pids;
	uint64_t files;  /* RLIMIT_NOFILE, soft and hard */
	uint64_t tmp;    /* size of the /tmp tmpfs, bytes */
	uint64_t shm;    /* size of the /dev/shm tmpfs, bytes */
};

/* The bounds of "files": the kernel's fs.nr_open default at most. */
#define SP_FILES_MIN 64
#define SP_FILES_MAX 1048576

/* A VM instance's machine (DESIGN.md, "VM instances"). */
struct sp_vm {
	uint64_t memory; /* guest RAM in bytes */
	unsigned vcpus;
	char *kernel;    /* absolute path of the guest kernel; NULL = newest /boot/vmlinuz-* */
};

#define SP_VM_MEMORY_DEFAULT ((uint64_t)256 << 20)
/* Debian's kernel with the initramfs does not come up in less. */
#define SP_VM_MEMORY_MIN ((uint64_t)128 << 20)
#define SP_VM_MEMORY_MAX ((uint64_t)64 << 30)
#define SP_VM_VCPUS_MAX 64
/* What a VM instance's cgroup needs above the guest's RAM. */
#define SP_VM_OVERHEAD ((uint64_t)96 << 20)

/* One entry of a client's egress policy ("tcp/443", "udp/53",
 * "tcp/22@192.0.2.0/24", "icmp"): what the client may send through its
 * provider's uplink. */
enum sp_net_proto {
	SP_NET_TCP,
	SP_NET_UDP,
	SP_NET_ICMP,
};

struct sp_net_allow {
	enum sp_net_proto proto;
	uint16_t port_lo, port_hi; /* tcp/udp; equal for one port */
	uint32_t addr;             /* destination network, host byte order */
	uint8_t prefix;            /* 0: any destination */
};

/* A declared peer of a client: another client of the same provider that
 * lists it back. */
struct sp_net_peer {
	char *name;
	uint8_t mac[6];
};

/* The network of a client ("net": {"provider": NAME, ...}).  PROVIDER is
 * NULL for "net": "none".  The MAC is assigned once the whole
 * configuration is read (it depends on the provider's other clients). */
struct sp_net {
	char *provider;
	struct sp_net_peer *peers;
	size_t n_peers;
	bool allow_any;            /* no "allow": anything through the uplink */
	struct sp_net_allow *allow;
	size_t n_allow;
	uint8_t mac[6];
};

enum sp_uplink {
	SP_UPLINK_NONE,
	SP_UPLINK_HOST, /* the host's network, through NAT */
};

struct sp_instance {
	char *name;
	enum sp_isolation isolation;
	bool software_host;  /* "host" was listed: the host's /usr, read-only */
	char **store_paths;  /* NULL-terminated; Nix store paths listed */
	char **command;      /* NULL-terminated argv, at least one element */
	struct sp_grant *data;
	size_t n_data;
	struct sp_resources resources;
	struct sp_env_var *env;
	size_t n_env;
	enum sp_restart restart;
	bool autostart;
	unsigned stop_timeout; /* seconds from SIGTERM to SIGKILL on stop, 1..3600 */
	struct sp_vm vm;       /* isolation "vm" only; defaults filled in */
	struct sp_net net;
	bool provides_net;     /* "provides": ["net"] */
	enum sp_uplink uplink; /* providers only */
};

#define SP_STOP_TIMEOUT_DEFAULT 10
#define SP_STOP_TIMEOUT_MAX 3600

struct sp_config {
	char *file; /* as given, for messages */
	char *json; /* the configuration as JSON text: what a generation records
		       (set by sp_config_load; NULL after sp_config_parse alone) */
	char **derivations; /* NULL-terminated .drv paths to realise (from
			       a .nix file's software); NULL when none */
	struct sp_instance *instances;
	size_t n_instances;
};

/* Reads FILE: ".json" is parsed directly, ".nix" is evaluated first with
 * nix-instantiate --eval --strict --json through nix/eval.nix, which also
 * lists the derivations of every instance's software (out->derivations)
 * without building them.  Errors are of kind
 * SP_ERR_USAGE and read "FILE: KEY.PATH: expected ..." or
 * "FILE:LINE:COL: ..." for JSON syntax. */
int sp_config_load(const char *file, struct sp_config *out, struct sp_err *err);

/* Parses and validates JSON text; FILE is used only in messages. */
int sp_config_parse(const char *text, size_t len, const char *file,
		    struct sp_config *out, struct sp_err *err);

void sp_config_free(struct sp_config *cfg);

/* NULL when no instance has that name. */
const struct sp_instance *sp_config_find(const struct sp_config *cfg, const char *name);

/* True when NAME matches [a-z0-9][a-z0-9-]{0,62}. */
bool sp_name_valid(const char *name);

/* The text of an egress rule as the configuration writes it ("tcp/443",
 * "tcp/22@192.0.2.0/24"); OUT: at least 48 bytes. */
void sp_net_allow_text(const struct sp_net_allow *a, char *out, size_t n);

/* Parses a size: digits with an optional binary suffix K, M, G or T
 * ("256M"), or plain bytes.  Returns 0, or -1 for anything else,
 * including negative numbers, unknown suffixes and overflow. */
int sp_parse_size(const char *text, uint64_t *bytes);
