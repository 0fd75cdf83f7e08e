/* The host side of an instance's terminal and signals, shared by `run`
 * (container.c) and `exec` (join.c): one poll loop over the report
 * channel from the instance, a signalfd, and, when the instance has a
 * pty, its master and the host's stdin.  What a report or a signal means
 * is left to the caller's two callbacks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/signalfd.h>

#include "sandbox/pty.h"

struct sp_relay {
	struct sp_pty_host pty;
	int sock;      /* the report channel, polled until end of file */
	bool sock_eof; /* set by on_report at end of file */
	int sigfd;
	bool done;     /* set by the callbacks once the command has been waited for */
	/* The socket is readable: receive one message. */
	void (*on_report)(struct sp_relay *r);
	/* A signal other than SIGWINCH (which resizes the pty here). */
	void (*on_signal)(struct sp_relay *r, const struct signalfd_siginfo *si);
	/* When set: EXTRA_FD is readable (a timer, say). */
	void (*on_extra)(struct sp_relay *r);
	int extra_fd;
	bool stdin_open;
	struct {
		char buf[4096];
		size_t len, off;
	} in; /* from the host's stdin, not yet written to the pty */
};

/* Polls until R->done and R->sock_eof, then drains what is left in the
 * pty. */
void sp_relay_loop(struct sp_relay *r);
