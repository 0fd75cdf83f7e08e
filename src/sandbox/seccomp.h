/* The seccomp filter of every container instance: a deny list in the
 * spirit of Flatpak's and Docker's, and every non-native syscall ABI
 * (i386, x32) refused. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct sp_seccomp_rule_desc {
	const char *what; /* "keyctl", "ioctl(TIOCSTI)", "clone(CLONE_NEWUSER...)" */
	const char *why;  /* a few words, for `inspect` */
};

/* Loads the filter into the calling process.  The caller has set
 * no_new_privs.  Inherited by every child and kept across execve. */
int sp_seccomp_apply(struct sp_err *err);

/* The same filter as a classic BPF program (struct sock_filter[],
 * *LEN bytes, malloc'ed into *PROG), for a VM guest's agent to load: the
 * guest's command gets exactly the container's filter, built here by the
 * same code, and the static agent needs no libseccomp. */
int sp_seccomp_export(uint8_t **prog, size_t *len, struct sp_err *err);

/* The rules, for `inspect` and `check`. */
const struct sp_seccomp_rule_desc *sp_seccomp_rules(size_t *n);

/* For a process that serves the store to a guest (virtiofsd): only the
 * rules that keep setuid and setgid bits out of the store (what a guest
 * asks virtiofsd to chmod or create lands owned by the store's owner on
 * disk).  Stacked under the server's own filter, it holds whatever the
 * guest's kernel lets through. */
int sp_seccomp_apply_file_server(struct sp_err *err);
