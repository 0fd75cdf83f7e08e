/* util/shown: what an instance prints, escaped for the admin's terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/shown.h"

/* LEN bytes of S through one stream, cut into pieces of CHUNK bytes. */
static char *stream(const char *s, size_t len, size_t chunk, unsigned flags)
{
	struct sp_shown st = { .flags = flags };
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);

	assert_non_null(f);
	for (size_t i = 0; i < len; i += chunk)
		assert_int_equal(sp_shown_write(&st, f, s + i, len - i < chunk ? len - i : chunk), 0);
	assert_int_equal(sp_shown_flush(&st, f), 0);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void expect_log(const char *in, const char *want)
{
	size_t len = strlen(in);

	/* Whatever the cuts between reads, the same text. */
	for (size_t chunk = 1; chunk <= len + 1; chunk++) {
		char *got = stream(in, len, chunk, SP_SHOWN_LINES);
		assert_string_equal(got, want);
		free(got);
	}
}

static void test_terminal_controls(void **ctx)
{
	(void)ctx;
	/* A title, the clipboard (OSC 52), a screen clear: no ESC, no BEL. */
	expect_log("\x1b]0;owned\x07", "\\e]0;owned\\x07");
	expect_log("\x1b]52;c;aGVsbG8=\x07", "\\e]52;c;aGVsbG8=\\x07");
	expect_log("\x1b[2J\x1b[H", "\\e[2J\\e[H");
	/* A forged line over the previous one, a backspace, DEL, NUL. */
	expect_log("ok\rspectrum: fake\b\x7f", "ok\\x0dspectrum: fake\\x08\\x7f");
	char *got = stream("a\0b", 3, 3, SP_SHOWN_LINES);
	assert_string_equal(got, "a\\x00b");
	free(got);
}

static void test_lines_kept_in_logs(void **ctx)
{
	(void)ctx;
	expect_log("one\ttwo\nthree\n", "one\ttwo\nthree\n");
}

static void test_utf8(void **ctx)
{
	(void)ctx;
	/* Valid text passes, whatever the cuts between reads. */
	expect_log("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	/* C1 controls: CSI as U+009B and as a lone byte (8-bit terminals). */
	expect_log("\xc2\x9b"
		   "2J",
		   "\\xc2\\x9b"
		   "2J");
	expect_log("\x9b"
		   "2J",
		   "\\x9b"
		   "2J");
	/* Invalid: overlong, surrogate, above U+10FFFF, a cut at the end. */
	expect_log("\xc0\xaf", "\\xc0\\xaf");
	expect_log("\xed\xa0\x80", "\\xed\\xa0\\x80");
	expect_log("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
	expect_log("x\xe6\x97", "x\\xe6\\x97");
	/* Bidi overrides and line separators. */
	expect_log("a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xe2\x80\xa8", "a\\u202eb\\u2066c\\u2028");
}

static void test_one_line(void **ctx)
{
	char buf[64];

	(void)ctx;
	assert_string_equal(sp_shown(buf, sizeof buf, "name\nspectrum: forged\x1b[2K"),
			    "name\\x0aspectrum: forged\\e[2K");
	assert_string_equal(sp_shown(buf, sizeof buf, "tab\there"), "tab\\x09here");
	assert_string_equal(sp_shown(buf, sizeof buf, "caf\xc3\xa9"), "caf\xc3\xa9");
}

static void test_cut_short(void **ctx)
{
	char buf[8];

	(void)ctx;
	/* Exactly fits: 7 bytes and the NUL. */
	assert_string_equal(sp_shown(buf, sizeof buf, "1234567"), "1234567");
	assert_string_equal(sp_shown(buf, sizeof buf, "12345678"), "1234...");
	/* Never inside an escape or a sequence. */
	assert_string_equal(sp_shown(buf, sizeof buf, "ab\x1b\x1b\x1b"), "ab\\e...");
	assert_string_equal(sp_shown(buf, sizeof buf, "abc\xe6\x97\xa5xyz"), "abc...");
	assert_string_equal(sp_shown(buf, 4, "abcdef"), "...");
}

/* Names in lists (backup create): backslash, newline and tab by name, and
 * a long name keeps its end, never cut inside an escape or a character. */
static void test_names_keep_their_end(void **ctx)
{
	char buf[32];

	(void)ctx;
	assert_false(sp_shown_end(buf, sizeof buf, 20, "a\\b\nc\td\x1b\xe2\x80\x8f", SP_SHOWN_NAMES));
	assert_string_equal(buf, "a\\\\b\\nc\\td\\e\\u200f");
	assert_true(sp_shown_end(buf, sizeof buf, 10, "data/0123456789/end", SP_SHOWN_NAMES));
	assert_string_equal(buf, "...789/end");
	/* The piece that would straddle the cut is left out whole. */
	assert_true(sp_shown_end(buf, sizeof buf, 7, "xx\x1bzzzz", SP_SHOWN_NAMES));
	assert_string_equal(buf, "...zzzz");
	assert_true(sp_shown_end(buf, sizeof buf, 7, "xx\xc3\xa9zzzz", SP_SHOWN_NAMES));
	assert_string_equal(buf, "...zzzz");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terminal_controls), cmocka_unit_test(test_lines_kept_in_logs),
		cmocka_unit_test(test_utf8), cmocka_unit_test(test_one_line), cmocka_unit_test(test_cut_short),
		cmocka_unit_test(test_names_keep_their_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
