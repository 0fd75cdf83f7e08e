/* Frames on the wire between the VM engine and the in-guest agent; the
 * contract is proto.h (plans: proto-plan.c).  The agent is a static
 * binary, so this file uses libc and nothing else. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "guest/proto.h"

static bool frame_type_known(int type)
{
	switch (type) {
	case SP_FRAME_PLAN:
	case SP_FRAME_STDIN:
	case SP_FRAME_KILL:
	case SP_FRAME_WINSIZE:
	case SP_FRAME_READY:
	case SP_FRAME_STDOUT:
	case SP_FRAME_STDERR:
	case SP_FRAME_EXIT:
	case SP_FRAME_ERROR:
		return true;
	default:
		return false;
	}
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A non-blocking FD (the agent's port) says EAGAIN when full: wait until
 * it takes bytes again.  A virtio port whose host end went away never
 * becomes writable but reports POLLHUP, and waiting on would hang. */
static int wait_writable(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLOUT };

	for (;;) {
		if (poll(&pf, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pf.revents & POLLOUT)
			return 0;
		if (pf.revents & (POLLHUP | POLLERR | POLLNVAL)) {
			errno = EPIPE;
			return -1;
		}
	}
}

static int writev_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && wait_writable(fd) == 0)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int sp_frame_write(int fd, char type, const void *payload, size_t len)
{
	uint8_t head[SP_FRAME_HEADER];
	struct iovec iov[2];

	if (!frame_type_known(type) || (len > 0 && !payload)) {
		errno = EINVAL;
		return -1;
	}
	if (len > SP_FRAME_MAX) {
		errno = E2BIG;
		return -1;
	}
	head[0] = (uint8_t)type;
	put_le32(head + 1, (uint32_t)len);
	iov[0] = (struct iovec){ head, sizeof head };
	iov[1] = (struct iovec){ (void *)payload, len };
	return writev_all(fd, iov, len > 0 ? 2 : 1);
}

/* proto.h's reader has no field for the read position, so it lives in the
 * first bytes of BUF (LEN and CAP count them).  Frames are handed out in
 * place, so a payload stays valid until the next call; the bytes already
 * handed out are dropped only when more arrive (sp_frame_feed), which
 * keeps a read full of small frames linear. */
#define READER_HEAD sizeof(size_t)

static size_t reader_pos(const struct sp_frame_reader *r)
{
	size_t pos;

	memcpy(&pos, r->buf, sizeof pos);
	return pos;
}

static void reader_set_pos(struct sp_frame_reader *r, size_t pos)
{
	memcpy(r->buf, &pos, sizeof pos);
}

static void reader_compact(struct sp_frame_reader *r)
{
	size_t pos = reader_pos(r);

	if (pos == READER_HEAD)
		return;
	memmove(r->buf + READER_HEAD, r->buf + pos, r->len - pos);
	r->len -= pos - READER_HEAD;
	reader_set_pos(r, READER_HEAD);
}

static int reader_reserve(struct sp_frame_reader *r, size_t more)
{
	size_t need, cap;
	uint8_t *p;

	if (r->len > SIZE_MAX - more) {
		errno = ENOMEM;
		return -1;
	}
	need = r->len + more;
	if (need <= r->cap)
		return 0;
	cap = r->cap > 0 ? r->cap : 4096;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(r->buf, cap);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	r->buf = p;
	r->cap = cap;
	return 0;
}

int sp_frame_feed(struct sp_frame_reader *r, const void *data, size_t len)
{
	bool fresh = r->buf == NULL;

	if (len == 0)
		return 0;
	if (fresh) {
		r->len = 0;
		r->cap = 0;
	} else {
		reader_compact(r);
	}
	if (reader_reserve(r, (fresh ? READER_HEAD : 0) + len) < 0)
		return -1;
	if (fresh) {
		r->len = READER_HEAD;
		reader_set_pos(r, READER_HEAD);
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int sp_frame_next(struct sp_frame_reader *r, char *type, const uint8_t **payload, size_t *len)
{
	size_t pos, avail;
	uint32_t n;

	if (!r->buf)
		return 0;
	pos = reader_pos(r);
	avail = r->len - pos;
	/* The type is known from the first byte: a bad stream is refused as
	 * early as it can be, whatever the split. */
	if (avail >= 1 && !frame_type_known(r->buf[pos])) {
		errno = EPROTO;
		return -1;
	}
	if (avail < SP_FRAME_HEADER)
		return 0;
	n = get_le32(r->buf + pos + 1);
	if (n > SP_FRAME_MAX) {
		errno = EPROTO;
		return -1;
	}
	if (avail - SP_FRAME_HEADER < n)
		return 0;
	*type = (char)r->buf[pos];
	*payload = r->buf + pos + SP_FRAME_HEADER;
	*len = n;
	reader_set_pos(r, pos + SP_FRAME_HEADER + n);
	return 1;
}

void sp_frame_reader_free(struct sp_frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
	r->cap = 0;
}
