#include <string.h>

#include "util/shown.h"

/* The length of the UTF-8 sequence at P (AVAIL bytes there): 1 to 4 when
 * it is valid (no overlong form, no surrogate, nothing above U+10FFFF),
 * 0 when its first byte begins no valid sequence, -1 when it is valid so
 * far but cut short. */
static int seq_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	int n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		unsigned char b;
		if ((size_t)i >= avail)
			return -1;
		b = p[i];
		if (i == 1 ? b < lo || b > hi : b < 0x80 || b > 0xbf)
			return 0;
	}
	return n;
}

/* How the sequence of N bytes at P is shown (N 0: an invalid byte): true
 * with its escape in ESC, false when it passes as it is. */
static bool escape_of(const unsigned char *p, int n, unsigned flags, char esc[static 16])
{
	if (n == 0) {
		snprintf(esc, 16, "\\x%02x", p[0]);
		return true;
	}
	if (n == 1) {
		if (flags & SP_SHOWN_NAMES) {
			const char *named = p[0] == '\\' ? "\\\\" : p[0] == '\n' ? "\\n" : p[0] == '\t' ? "\\t" : NULL;

			if (named != NULL) {
				snprintf(esc, 16, "%s", named);
				return true;
			}
		}
		if (p[0] == 0x1b) {
			snprintf(esc, 16, "\\e");
			return true;
		}
		if ((p[0] == '\n' || p[0] == '\t') && (flags & SP_SHOWN_LINES))
			return false;
		if (p[0] < 0x20 || p[0] == 0x7f) {
			snprintf(esc, 16, "\\x%02x", p[0]);
			return true;
		}
		return false;
	}
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
		snprintf(esc, 16, "\\xc2\\x%02x", p[1]);
		return true;
	}
	if (n == 3 && p[0] == 0xe2) {
		unsigned cp = 0x2000u | (unsigned)(p[1] & 0x3f) << 6 | (unsigned)(p[2] & 0x3f);
		if (cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
			snprintf(esc, 16, "\\u%04x", cp);
			return true;
		}
	}
	return false;
}

/* Shows the sequence at P (AVAIL bytes there) on F and returns how many
 * bytes it took; 0 when it is cut short and MORE may complete it. */
static size_t unit(FILE *f, const unsigned char *p, size_t avail, bool more, unsigned flags, bool *failed)
{
	char esc[16];
	int n = seq_len(p, avail);

	if (n < 0) {
		if (more)
			return 0;
		n = 0;
	}
	if (escape_of(p, n, flags, esc)) {
		if (fputs(esc, f) == EOF)
			*failed = true;
	} else if (fwrite(p, 1, (size_t)n, f) != (size_t)n) {
		*failed = true;
	}
	return n == 0 ? 1 : (size_t)n;
}

static bool plain(unsigned char c, unsigned flags)
{
	if (c == '\\' && (flags & SP_SHOWN_NAMES))
		return false;
	return (c >= 0x20 && c < 0x7f) || ((c == '\n' || c == '\t') && (flags & SP_SHOWN_LINES));
}

int sp_shown_write(struct sp_shown *st, FILE *f, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	bool failed = false;
	size_t i = 0;

	/* A sequence cut by the previous write, completed from BUF (a
	 * sequence is 4 bytes at most). */
	if (st->npend > 0) {
		unsigned char tmp[8];
		size_t have = st->npend, take = n < 4 ? n : 4, j = 0;

		memcpy(tmp, st->pend, have);
		memcpy(tmp + have, p, take);
		st->npend = 0;
		while (j < have) {
			size_t k = unit(f, tmp + j, have + take - j, true, st->flags, &failed);
			if (k == 0) {
				/* Still cut short: all of BUF was taken. */
				st->npend = have + take - j;
				memcpy(st->pend, tmp + j, st->npend);
				return failed ? -1 : 0;
			}
			j += k;
		}
		i = j - have;
	}
	while (i < n) {
		size_t start = i, k;

		while (i < n && plain(p[i], st->flags))
			i++;
		if (i > start && fwrite(p + start, 1, i - start, f) != i - start)
			failed = true;
		if (i == n)
			break;
		k = unit(f, p + i, n - i, true, st->flags, &failed);
		if (k == 0) {
			st->npend = n - i;
			memcpy(st->pend, p + i, st->npend);
			break;
		}
		i += k;
	}
	return failed ? -1 : 0;
}

int sp_shown_flush(struct sp_shown *st, FILE *f)
{
	bool failed = false;

	for (size_t j = 0; j < st->npend;)
		j += unit(f, st->pend + j, st->npend - j, false, st->flags, &failed);
	st->npend = 0;
	return failed ? -1 : 0;
}

const char *sp_shown_n(char *buf, size_t size, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t out = 0, i = 0, safe = 0; /* safe: the last cut with room for "..." */

	while (i < len) {
		char esc[16];
		const char *piece;
		size_t plen;
		int n = seq_len(p + i, len - i);

		if (n < 0)
			n = 0;
		if (escape_of(p + i, n, 0, esc)) {
			piece = esc;
			plen = strlen(esc);
		} else {
			piece = s + i;
			plen = (size_t)n;
		}
		if (out + plen + 1 > size) {
			memcpy(buf + safe, "...", 3);
			out = safe + 3;
			break;
		}
		memcpy(buf + out, piece, plen);
		out += plen;
		i += n == 0 ? 1 : (size_t)n;
		if (out + 4 <= size)
			safe = out;
	}
	buf[out] = '\0';
	return buf;
}

const char *sp_shown(char *buf, size_t size, const char *s)
{
	return sp_shown_n(buf, size, s, strlen(s));
}

/* The unit at P (AVAIL bytes there) as shown: *PIECE and its length;
 * *TOOK, the bytes it stands for.  ESC holds an escape. */
static size_t piece_at(const unsigned char *p, size_t avail, unsigned flags, char esc[static 16],
		       const char **piece, size_t *took)
{
	int n = seq_len(p, avail);

	if (n < 0)
		n = 0;
	*took = n == 0 ? 1 : (size_t)n;
	if (escape_of(p, n, flags, esc)) {
		*piece = esc;
		return strlen(esc);
	}
	*piece = (const char *)p;
	return (size_t)n;
}

bool sp_shown_end(char *buf, size_t size, size_t max, const char *s, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), total = 0, at = 0, out = 0;
	char esc[16];
	const char *piece;
	size_t plen, took;

	/* First the whole length shown, then the pieces that start late
	 * enough to leave at most MAX - 3 bytes after the "...". */
	for (size_t i = 0; i < len; i += took)
		total += piece_at(p + i, len - i, flags, esc, &piece, &took);
	if (total > max)
		out = (size_t)snprintf(buf, size, "...");
	for (size_t i = 0; i < len; i += took, at += plen) {
		plen = piece_at(p + i, len - i, flags, esc, &piece, &took);
		if (total > max && at < total - (max - 3))
			continue;
		if (out + plen >= size)
			break;
		memcpy(buf + out, piece, plen);
		out += plen;
	}
	buf[out] = '\0';
	return total > max;
}
