/* The wire between the VM engine on the host and the agent, PID 1 in the
 * guest: one virtio-serial port named SP_GUEST_PORT_NAME carries every
 * message both ways, in order.  Keeping stdout, stderr and the exit status
 * on one ordered channel means the host has read all the output when it
 * reads the status: no port is drained after the guest has powered off.
 *
 * A frame is a 5-byte header (type, then the payload length as a 32-bit
 * little-endian number) and the payload.  The same code frames and
 * unframes on both sides; the guest side is a static binary, so this file
 * uses nothing but libc.
 *
 * Host to guest:
 *   'P' the plan (once, first): records, see below
 *   'i' stdin bytes; an empty 'i' is end of file
 *   'k' a signal for the command: decimal number
 *   'w' the terminal's size: "ROWS COLS"
 * Guest to host:
 *   'R' ready: the command is about to be exec'd (empty payload)
 *   'o' stdout bytes, 'e' stderr bytes (a terminal's output comes as 'o')
 *   'x' the command ended: "exit N" or "signal N"
 *   'E' setup failed: one line saying what and why; the guest then stops
 *
 * The plan is a sequence of NUL-terminated "key=value" records:
 *   hostname=NAME            once
 *   uid=N gid=N              once each
 *   cwd=PATH                 once
 *   root=TAG                 at most once: the share TAG (read-only) becomes
 *                            "/"; mount, link and tmpfs paths are then in it
 *   arg=STRING               argv, in order, at least one
 *   env=KEY=VALUE            the whole environment, in order
 *   mount=TAG:MODE:PATH      a virtiofs share TAG at absolute PATH, MODE ro|rw,
 *                            in the order given (a parent before its children)
 *   link=TARGET:PATH         a symlink at absolute PATH pointing to TARGET
 *   tmpfs=PATH               a fresh tmpfs at absolute PATH (mode 01777)
 *   tty=1                    run the command on a new pty (interactive)
 *   seccomp=HEX              once, required: the command's seccomp filter, a
 *                            classic BPF program (struct sock_filter[], 1 to
 *                            4096 instructions) in lower-case hex, built by
 *                            the host with the container's rules
 *   ro=PATH                  in the command's own /proc: made read-only
 *   mask=PATH                in the command's own /proc: hidden
 *                            (ro and mask: where PATH exists, as for a container)
 * Anything else, a record without '=', a missing required key or a limit
 * exceeded is an error: the agent refuses a plan it does not understand. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_GUEST_PORT_NAME "org.spectrum.control"

#define SP_FRAME_HEADER 5
/* Bounds: a frame's payload, and a plan's counts. */
#define SP_FRAME_MAX (1u << 20)
#define SP_PLAN_MAX_ARGS 4096
#define SP_PLAN_MAX_ENV 4096
#define SP_PLAN_MAX_MOUNTS 256
#define SP_PLAN_MAX_LINKS 64
#define SP_PLAN_MAX_TMPFS 16
#define SP_PLAN_MAX_PROC 32
/* BPF_MAXINSNS instructions of 8 bytes. */
#define SP_PLAN_MAX_SECCOMP (4096 * 8)

enum sp_frame_type {
	SP_FRAME_PLAN = 'P',
	SP_FRAME_STDIN = 'i',
	SP_FRAME_KILL = 'k',
	SP_FRAME_WINSIZE = 'w',
	SP_FRAME_READY = 'R',
	SP_FRAME_STDOUT = 'o',
	SP_FRAME_STDERR = 'e',
	SP_FRAME_EXIT = 'x',
	SP_FRAME_ERROR = 'E',
};

/* Writes one whole frame to FD (blocking; retries short writes and
 * EINTR).  0, or -1 with errno. */
int sp_frame_write(int fd, char type, const void *payload, size_t len);

/* An incremental reader: bytes go in as they arrive (any split), whole
 * frames come out. */
struct sp_frame_reader {
	uint8_t *buf;
	size_t len, cap;
};

/* Appends LEN bytes.  -1 with errno ENOMEM. */
int sp_frame_feed(struct sp_frame_reader *r, const void *data, size_t len);

/* The next whole frame, if there is one: 1 and *TYPE, *PAYLOAD (valid
 * until the next call), *LEN; 0 when more bytes are needed; -1 when the
 * stream is bad (a length over SP_FRAME_MAX or an unknown type). */
int sp_frame_next(struct sp_frame_reader *r, char *type, const uint8_t **payload, size_t *len);

void sp_frame_reader_free(struct sp_frame_reader *r);

struct sp_guest_mount {
	char *tag;
	char *path;
	bool readonly;
};

struct sp_guest_link {
	char *target;
	char *path;
};

struct sp_guest_plan {
	char *hostname;
	unsigned uid, gid;
	char *cwd;
	char *root;   /* NULL: the initramfs stays "/" */
	char **argv;  /* NULL-terminated */
	char **envp;  /* NULL-terminated */
	struct sp_guest_mount *mounts;
	size_t n_mounts;
	struct sp_guest_link *links;
	size_t n_links;
	char **tmpfs; /* NULL-terminated */
	bool tty;
	uint8_t *seccomp; /* the BPF program, SECCOMP_LEN bytes (a multiple of 8) */
	size_t seccomp_len;
	char **ro;    /* NULL-terminated: read-only in the command's /proc */
	char **mask;  /* NULL-terminated: hidden in the command's /proc */
};

/* Parses a plan payload.  -1 and a one-line reason in WHY (at most
 * WHY_LEN bytes) when it is not a valid plan.  Every path is absolute,
 * has no "." or ".." component and no empty component; tags are
 * [a-z0-9-]{1,36}. */
int sp_guest_plan_parse(const uint8_t *data, size_t len, struct sp_guest_plan *plan, char *why,
			size_t why_len);

void sp_guest_plan_free(struct sp_guest_plan *plan);

/* The host side: PLAN as a payload for a 'P' frame (malloc'ed into *OUT).
 * -1 with errno EINVAL when a string holds a NUL-unsafe value for its
 * record (a tag or a link target with ':', a path that parse would
 * refuse), ENOMEM, or E2BIG over SP_FRAME_MAX. */
int sp_guest_plan_encode(const struct sp_guest_plan *plan, uint8_t **out, size_t *len);
