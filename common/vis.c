/*
 * Escaping what a peer wrote before it goes into a log line or the
 * database (vis.h).  Well-formed UTF-8 passes unchanged, except the C1
 * controls (U+0080-U+009F, which some terminals take as CSI and the like);
 * a backslash doubles so that an escape in the result always means one
 * byte of the input; \n, \r and \t get their C names and every other
 * control byte, DEL, and any byte outside a well-formed sequence (a stray
 * continuation byte, an overlong form, a surrogate, beyond U+10FFFF) is
 * written \xHH.  The result is cut only between escapes, never inside one.
 */
#include <stdio.h>
#include <string.h>

#include "vis.h"
#include "xmalloc.h"

/*
 * The length of the well-formed UTF-8 sequence that starts at s (2 to 4),
 * or 0 when there is none.  The rules are RFC 3629's table.
 */
static size_t
vis_utf8_len(const unsigned char *s)
{
	unsigned char	c = s[0];
	size_t		n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return (0);
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return (0);
	if ((c == 0xe0 && s[1] < 0xa0) ||	/* overlong */
	    (c == 0xed && s[1] > 0x9f) ||	/* surrogates */
	    (c == 0xf0 && s[1] < 0x90) ||	/* overlong */
	    (c == 0xf4 && s[1] > 0x8f))		/* beyond U+10FFFF */
		return (0);
	/* C1 controls: U+0080-U+009F are C2 80 to C2 9F. */
	if (c == 0xc2 && s[1] <= 0x9f)
		return (0);
	return (n);
}

/*
 * Escape src into dst (dstlen bytes, NUL included) and return the length
 * the whole escaped string needs, as snprintf does: a result of dstlen or
 * more means it was cut.
 */
size_t
vis_str(char *dst, size_t dstlen, const char *src, int flags)
{
	const unsigned char	*s = (const unsigned char *)src;
	char			 esc[VIS_MAX_GROWTH + 1];
	size_t			 need = 0, n, full = 0;

	if (dstlen > 0)
		dst[0] = '\0';
	while (*s != '\0') {
		n = 1;
		if (*s == '\\')
			memcpy(esc, "\\\\", 3);
		else if (*s == '\n' && !(flags & VIS_KEEP_NL))
			memcpy(esc, "\\n", 3);
		else if (*s == '\t' && !(flags & VIS_KEEP_NL))
			memcpy(esc, "\\t", 3);
		else if (*s == '\r')
			memcpy(esc, "\\r", 3);
		else if (*s == '\n' || *s == '\t' || (*s >= 0x20 && *s < 0x7f)) {
			esc[0] = (char)*s;
			esc[1] = '\0';
		} else if (*s >= 0x80 && (n = vis_utf8_len(s)) > 0) {
			memcpy(esc, s, n);
			esc[n] = '\0';
		} else {
			n = 1;
			snprintf(esc, sizeof(esc), "\\x%02x", *s);
		}
		s += n;
		n = strlen(esc);
		/* Cut between escapes: once one does not fit, none goes in. */
		if (!full && need + n < dstlen)
			memcpy(dst + need, esc, n + 1);
		else
			full = 1;
		need += n;
	}
	return (need);
}

/* The escaped copy of src, allocated. */
char *
vis_strdup(const char *src, int flags)
{
	size_t	 len = strlen(src) * VIS_MAX_GROWTH + 1;
	char	*dst = xmalloc(len);

	(void)vis_str(dst, len, src, flags);
	return (dst);
}
