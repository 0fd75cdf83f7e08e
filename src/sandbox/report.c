#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "sandbox/report.h"

int sp_report_send(int sock, char type, const void *data, size_t len, int fd)
{
	char buf[1 + sizeof(((struct sp_report *)0)->text)];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov;
	struct msghdr mh = { 0 };

	if (len > sizeof buf - 1)
		len = sizeof buf - 1;
	buf[0] = type;
	if (len)
		memcpy(buf + 1, data, len);
	iov.iov_base = buf;
	iov.iov_len = 1 + len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.space;
		mh.msg_controllen = sizeof ctl.space;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

int sp_report_text(int sock, char type, const char *text)
{
	return sp_report_send(sock, type, text, strlen(text), -1);
}

int sp_report_recv(int sock, struct sp_report *msg)
{
	char buf[1 + sizeof msg->text];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh = { 0 };
	ssize_t n;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof ctl.space;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	memset(msg, 0, sizeof *msg);
	msg->fd = -1;
	msg->type = buf[0];
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&msg->fd, CMSG_DATA(c), sizeof msg->fd);
	}
	if (msg->type == SP_REPORT_EXIT && n >= 1 + (ssize_t)sizeof(int))
		memcpy(&msg->status, buf + 1, sizeof msg->status);
	else if (n > 1)
		memcpy(msg->text, buf + 1, (size_t)n - 1 < sizeof msg->text - 1 ? (size_t)n - 1 : sizeof msg->text - 1);
	return 1;
}
