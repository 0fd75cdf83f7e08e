/* Moved out of container.c's relay_loop unchanged, so that `exec` relays
 * exactly as `run` does. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "sandbox/relay.h"

static void read_signal(struct sp_relay *r)
{
	struct signalfd_siginfo si;

	if (read(r->sigfd, &si, sizeof si) != (ssize_t)sizeof si)
		return;
	if (si.ssi_signo == SIGWINCH)
		sp_pty_resize(&r->pty);
	else
		r->on_signal(r, &si);
}

void sp_relay_loop(struct sp_relay *r)
{
	r->stdin_open = true;
	while (!r->done || !r->sock_eof) {
		struct pollfd pf[6];
		int n = 0, i_sock = -1, i_sig, i_master = -1, i_in = -1, i_out = -1, i_extra = -1;

		if (!r->sock_eof) {
			i_sock = n;
			pf[n++] = (struct pollfd){ r->sock, POLLIN, 0 };
		}
		i_sig = n;
		pf[n++] = (struct pollfd){ r->sigfd, POLLIN, 0 };
		if (r->on_extra) {
			i_extra = n;
			pf[n++] = (struct pollfd){ r->extra_fd, POLLIN, 0 };
		}
		if (r->pty.master >= 0) {
			i_master = n;
			pf[n++] = (struct pollfd){ r->pty.master, POLLIN, 0 };
			/* Keystrokes go through a small buffer and the master
			 * is non-blocking: an instance that stops reading its
			 * terminal must not freeze the engine, which still has
			 * signals to relay. */
			if (r->in.len > 0) {
				i_out = n;
				pf[n++] = (struct pollfd){ r->pty.master, POLLOUT, 0 };
			} else if (r->pty.tty[0] && r->stdin_open) {
				i_in = n;
				pf[n++] = (struct pollfd){ 0, POLLIN, 0 };
			}
		}
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (i_sock >= 0 && pf[i_sock].revents)
			r->on_report(r);
		if (pf[i_sig].revents)
			read_signal(r);
		if (i_extra >= 0 && pf[i_extra].revents)
			r->on_extra(r);
		if (i_master >= 0 && pf[i_master].revents) {
			int out = r->pty.tty[1] ? 1 : 2;
			if (!sp_pty_pump(r->pty.master, out)) {
				close(r->pty.master);
				r->pty.master = -1;
			}
		}
		if (i_in >= 0 && (pf[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(0, r->in.buf, sizeof r->in.buf);
			if (got > 0) {
				r->in.len = (size_t)got;
				r->in.off = 0;
			} else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
				r->stdin_open = false;
			}
		}
		if (i_out >= 0 && (pf[i_out].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(r->pty.master, r->in.buf + r->in.off, r->in.len - r->in.off);
			if (w > 0)
				r->in.off += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				r->in.off = r->in.len; /* the instance is gone: drop it */
			if (r->in.off == r->in.len)
				r->in.len = r->in.off = 0;
		}
	}
	/* What the command wrote last may still sit in the pty. */
	if (r->pty.master >= 0) {
		int out = r->pty.tty[1] ? 1 : 2;
		fcntl(r->pty.master, F_SETFL, O_NONBLOCK);
		while (sp_pty_pump(r->pty.master, out) > 0) {
			struct pollfd pf = { r->pty.master, POLLIN, 0 };
			if (poll(&pf, 1, 0) <= 0)
				break;
		}
	}
}
