/* Interactive instances get a new pty whose master is relayed by the
 * engine to the host's terminal.  The host's terminal itself never enters
 * the instance, so TIOCSTI and the like cannot reach it.  The pty is made
 * on the host side, in the host's devpts, not in the instance's: the
 * slave, handed to the command as its stdio and controlling terminal,
 * exists in no devpts the instance has, and is owned by host root with
 * mode 0600, so no other process of the instance can open it, by name or
 * through /proc/PID/fd/N, to read what the admin types or to write on the
 * admin's screen (`tty` inside says "not a tty": there is no name for it
 * there; /dev/tty opens it). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <termios.h>

#include "util/err.h"

struct sp_pty_host {
	bool tty[3];    /* which of stdin, stdout, stderr are terminals */
	int term_fd;    /* one of them, for sizes and modes; -1 if none */
	int master;     /* -1 until the instance sends it */
	int watch;      /* to the process that restores the modes if the
			   engine dies first (pty.c), or -1 */
	bool raw;       /* stdin put in raw mode, to restore */
	struct termios saved;
};

void sp_pty_detect(struct sp_pty_host *p);
static inline bool sp_pty_wanted(const struct sp_pty_host *p)
{
	return p->term_fd >= 0;
}

/* Takes MASTER: copies the host terminal's modes and size to it, and puts
 * the host's stdin in raw mode when it is a terminal, with a watcher
 * process that puts the modes back should the engine die unrestored. */
int sp_pty_attach(struct sp_pty_host *p, int master, struct sp_err *err);
void sp_pty_resize(struct sp_pty_host *p);

/* Before the host's terminal (stdin) goes raw: a process of its own that
 * puts SAVED back on it if the caller dies without doing so (SIGKILL),
 * reached through *WATCH.  sp_pty_watch_done(), once the caller restored
 * the modes itself, lets it go without touching them. */
int sp_pty_watch_start(const struct termios *saved, int *watch, struct sp_err *err);
void sp_pty_watch_done(int *watch);

/* Copies what is available from FROM to TO; 0 at end of file. */
int sp_pty_pump(int from, int to);

void sp_pty_restore(struct sp_pty_host *p);

/* On the host side, before the instance's side is forked: a new pty pair
 * of the host's /dev/ptmx, the slave owned by the caller with mode 0600.
 * Both close-on-exec. */
int sp_pty_open_host(int *master, int *slave, struct sp_err *err);
