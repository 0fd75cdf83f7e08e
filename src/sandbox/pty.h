/* Interactive instances get a new pty, created inside their own private
 * devpts (so `tty` names it there), whose master is relayed by the engine
 * to the host's terminal.  The host's terminal itself never enters the
 * instance, so TIOCSTI and the like cannot reach it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <termios.h>

#include "util/err.h"

struct sp_pty_host {
	bool tty[3];    /* which of stdin, stdout, stderr are terminals */
	int term_fd;    /* one of them, for sizes and modes; -1 if none */
	int master;     /* -1 until the instance sends it */
	bool raw;       /* stdin put in raw mode, to restore */
	struct termios saved;
};

void sp_pty_detect(struct sp_pty_host *p);
static inline bool sp_pty_wanted(const struct sp_pty_host *p)
{
	return p->term_fd >= 0;
}

/* Takes MASTER: copies the host terminal's modes and size to it, and puts
 * the host's stdin in raw mode when it is a terminal. */
int sp_pty_attach(struct sp_pty_host *p, int master, struct sp_err *err);
void sp_pty_resize(struct sp_pty_host *p);

/* Copies what is available from FROM to TO; 0 at end of file. */
int sp_pty_pump(int from, int to);

void sp_pty_restore(struct sp_pty_host *p);

/* Inside the instance: a new pty in /dev/pts, the slave owned by UID. */
int sp_pty_create(uid_t uid, gid_t gid, int *master, int *slave, struct sp_err *err);
