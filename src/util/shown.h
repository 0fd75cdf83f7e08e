/* Text that an instance controls (what it prints into its log, the names
 * of its files, what its guest agent says), made safe to show on the
 * admin's terminal.  Every byte a terminal could take as a control is
 * written as an escape, so that an instance cannot retitle the window
 * (OSC 0), write the clipboard (OSC 52), clear the screen, move the
 * cursor, or forge a line of Spectrum's own:
 *
 *   ESC                                  \e
 *   other C0 (NUL, BEL, CR, BS...), DEL  \xHH
 *   C1, U+0080..U+009F (UTF-8 c2 80..9f) \xc2\xHH
 *   a byte that is not valid UTF-8       \xHH  (a lone 0x9b is CSI to an
 *                                              8-bit terminal)
 *   bidi marks, overrides and isolates,
 *   line and paragraph separators        \uHHHH (they reorder or split
 *                                              what is shown: U+200E..F,
 *                                              U+202A..E, U+2066..9,
 *                                              U+2028, U+2029)
 *
 * Everything else, valid UTF-8 included, passes unchanged; a backslash
 * too (so `\e` in the output may also be the instance's own two
 * characters: the escapes are for reading, `logs --raw` gives the bytes).
 * Newline and tab are kept only with SP_SHOWN_LINES (logs); in a message
 * they are escaped as well, so it stays on one line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum {
	SP_SHOWN_LINES = 1, /* keep \n and \t as they are */
	SP_SHOWN_NAMES = 2, /* \\, \n and \t for a backslash, newline and tab:
			     * a name in a list reads back unambiguously */
};

/* A stream being shown: a UTF-8 sequence cut between two writes waits
 * here for its end. */
struct sp_shown {
	unsigned flags;
	size_t npend;
	unsigned char pend[4];
};

/* Writes N bytes of BUF to F, escaped.  A multibyte sequence cut at the
 * end is kept for the next call.  -1 when F failed. */
int sp_shown_write(struct sp_shown *st, FILE *f, const void *buf, size_t n);

/* Writes what a cut sequence left (escaped: it never ended). */
int sp_shown_flush(struct sp_shown *st, FILE *f);

/* LEN bytes of S, escaped on one line (newlines and tabs too), into BUF of
 * SIZE bytes (at least 4); cut short with "..." when it does not fit,
 * never inside an escape.  Returns BUF. */
const char *sp_shown_n(char *buf, size_t size, const char *s, size_t len);

/* The same for the NUL-terminated S. */
const char *sp_shown(char *buf, size_t size, const char *s);

/* S escaped on one line with FLAGS into BUF of SIZE (> MAX) bytes; when
 * that takes more than MAX bytes, "..." and the end that fits (the end of
 * a path names the entry), never cut inside an escape or a character.
 * Returns whether it was shortened. */
bool sp_shown_end(char *buf, size_t size, size_t max, const char *s, unsigned flags);
