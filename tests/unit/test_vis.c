/*
 * vis_str and vis_strdup (common/vis.c): what a peer wrote comes out with
 * every control character and every byte that is not well-formed UTF-8
 * escaped, well-formed text unchanged, and a cut result never ends inside
 * an escape.
 */
#include <stdlib.h>
#include <string.h>

#include "vis.h"
#include "unit.h"

static void
check(const char *in, int flags, const char *want)
{
	char	*out = vis_strdup(in, flags);

	CU_ASSERT_STRING_EQUAL(out, want);
	free(out);
}

struct vis_case {
	const char	*in;
	int		 flags;
	const char	*want;
};

static void
check_all(const struct vis_case *c, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		check(c[i].in, c[i].flags, c[i].want);
}

static void
test_controls(void)
{
	static const struct vis_case	c[] = {
		{ "plain text 1.0", 0, "plain text 1.0" },
		{ "a\nb", 0, "a\\nb" },
		{ "a\r\n\tb", 0, "a\\r\\n\\tb" },
		{ "\x1b[31mred\x1b[0m", 0, "\\x1b[31mred\\x1b[0m" },
		{ "bell\x07 del\x7f", 0, "bell\\x07 del\\x7f" },
		{ "back\\slash", 0, "back\\\\slash" },
		/* A program's output keeps its lines, never its escapes. */
		{ "line 1\nline\t2\r\n\x1b]0;title\x07", VIS_KEEP_NL,
		    "line 1\nline\t2\\r\n\\x1b]0;title\\x07" },
	};

	check_all(c, sizeof(c) / sizeof(c[0]));
}

static void
test_utf8(void)
{
	static const struct vis_case	c[] = {
		/* Well-formed: an e with an acute accent, the euro, a clef. */
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e", 0,
		    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e" },
		/* A stray continuation byte, a lone lead byte, a cut one. */
		{ "a\x80z", 0, "a\\x80z" },
		{ "a\xc3z", 0, "a\\xc3z" },
		{ "\xe2\x82", 0, "\\xe2\\x82" },
		/* Overlong forms, a surrogate, beyond U+10FFFF, 0xff. */
		{ "\xc0\xaf", 0, "\\xc0\\xaf" },
		{ "\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf" },
		{ "\xed\xa0\x80", 0, "\\xed\\xa0\\x80" },
		{ "\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80" },
		{ "\xff", 0, "\\xff" },
		/* C1 controls (U+009B is CSI on some terminals). */
		{ "\xc2\x9b" "2J", 0, "\\xc2\\x9b2J" },
		{ "\xc2\xa0", 0, "\xc2\xa0" },
	};

	check_all(c, sizeof(c) / sizeof(c[0]));
}

static void
test_bounds(void)
{
	char	buf[8];

	/* The length the whole result needs, as snprintf returns. */
	CU_ASSERT(vis_str(buf, sizeof(buf), "abc", 0) == 3);
	CU_ASSERT_STRING_EQUAL(buf, "abc");
	CU_ASSERT(vis_str(buf, sizeof(buf), "abcd\x1b", 0) == 8);
	/* "\x1b" does not fit after "abcd": cut before it, not inside. */
	CU_ASSERT_STRING_EQUAL(buf, "abcd");
	CU_ASSERT(vis_str(buf, 1, "abc", 0) == 3);
	CU_ASSERT_STRING_EQUAL(buf, "");
	CU_ASSERT(vis_str(buf, sizeof(buf), "", 0) == 0);
	CU_ASSERT_STRING_EQUAL(buf, "");
	/* The worst case fits what vis_strdup allocates. */
	check("\x01\x02\x03", 0, "\\x01\\x02\\x03");
}

static CU_TestInfo tests[] = {
	{ "control characters", test_controls },
	{ "UTF-8", test_utf8 },
	{ "bounds", test_bounds },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("vis", tests));
}
