/*
 * The fields of a package manifest one at a time (MISSION.md P1-P13): the
 * checks of ids, free text, paths inside the package folder and symlink
 * targets, the parsers of dates, types, urgencies and numbers, lists
 * without duplicates, and the names the values are shown by.  The CLI
 * runs them on what the user typed, the manifest's checks on what it
 * holds, the condition parser on a condition's value; they call nothing
 * else of the package code, so that all of it can stand on them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg.h"
#include "xmalloc.h"

/* Show one byte of a bad value readably in an error message. */
static void
pkg_field_show_byte(unsigned char c, char *buf, size_t len)
{
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, len, "'%c'", c);
	else if (c == ' ')
		snprintf(buf, len, "a space");
	else
		snprintf(buf, len, "byte 0x%02x", c);
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is
 * not one: overlong forms, surrogates and code points past U+10FFFF are
 * refused, since JSON and terminals downstream must get clean text.
 */
static size_t
pkg_field_utf8_len(const unsigned char *s, size_t n)
{
	uint32_t	cp;
	size_t		len, i;

	if (s[0] < 0x80)
		return (1);
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return (0);
	if (len > n)
		return (0);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (len);
}

/*
 * Free text: at most max bytes of valid UTF-8 without control characters
 * (multiline text may hold newlines and tabs).
 */
int
pkg_field_check_text(const char *name, const char *s, size_t max, int multiline,
    char *err, size_t errlen)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 len = strlen(s), i, n;

	if (len > max) {
		snprintf(err, errlen, "%s: %zu bytes, limit %zu", name, len,
		    max);
		return (-1);
	}
	for (i = 0; i < len; i += n) {
		if ((n = pkg_field_utf8_len(p + i, len - i)) == 0) {
			snprintf(err, errlen, "%s: invalid UTF-8 at byte %zu; "
			    "text must be UTF-8", name, i + 1);
			return (-1);
		}
		if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f) &&
		    !(multiline && (p[i] == '\n' || p[i] == '\t'))) {
			snprintf(err, errlen, "%s: control character 0x%02x at "
			    "byte %zu; text may not hold control characters%s",
			    name, p[i], i + 1,
			    multiline ? " other than newline and tab" : "");
			return (-1);
		}
	}
	return (0);
}

/* P1: 1-63 bytes of A-Z a-z 0-9 - _. */
int
pkg_field_check_id(const char *name, const char *s, char *err, size_t errlen)
{
	size_t	len = strlen(s), i;
	char	shown[16];

	if (len == 0) {
		snprintf(err, errlen, "%s: empty; an id is 1-%d bytes of "
		    "A-Z a-z 0-9 - _", name, PKG_ID_MAX);
		return (-1);
	}
	if (len > PKG_ID_MAX) {
		snprintf(err, errlen, "%s: %zu bytes, limit %d", name, len,
		    PKG_ID_MAX);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')
			continue;
		pkg_field_show_byte(c, shown, sizeof(shown));
		snprintf(err, errlen, "%s: %s at byte %zu is not allowed; an id "
		    "is 1-%d bytes of A-Z a-z 0-9 - _", name, shown, i + 1,
		    PKG_ID_MAX);
		return (-1);
	}
	return (0);
}

/*
 * A path inside the package folder: relative, at most PKG_PATH_MAX bytes,
 * components neither empty nor "." nor "..", no control characters.
 */
int
pkg_field_check_relpath(const char *name, const char *path, char *err,
    size_t errlen)
{
	const char	*p, *end;
	size_t		 len = strlen(path), clen;

	if (len == 0) {
		snprintf(err, errlen, "%s: empty path", name);
		return (-1);
	}
	if (len > PKG_PATH_MAX) {
		snprintf(err, errlen, "%s: %zu bytes, limit %d", name, len,
		    PKG_PATH_MAX);
		return (-1);
	}
	if (path[0] == '/') {
		snprintf(err, errlen, "%s: %s is an absolute path; it must be "
		    "relative to the package folder", name, path);
		return (-1);
	}
	if (pkg_field_check_text(name, path, PKG_PATH_MAX, 0, err,
	    errlen) == -1)
		return (-1);
	for (p = path; ; p = end + 1) {
		end = strchr(p, '/');
		clen = end == NULL ? strlen(p) : (size_t)(end - p);
		if (clen == 0) {
			snprintf(err, errlen, "%s: %s has an empty component "
			    "(a doubled or trailing '/')", name, path);
			return (-1);
		}
		if ((clen == 1 && p[0] == '.') ||
		    (clen == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(err, errlen, "%s: %s has a '%.*s' component; "
			    "paths must stay inside the package folder without "
			    "'.' or '..'", name, path, (int)clen, p);
			return (-1);
		}
		if (end == NULL)
			break;
	}
	return (0);
}

/*
 * A symlink at path (a checked relative path) pointing to target stays
 * inside the package folder when the target is relative and its ".."
 * components only come first and do not climb above the folder.  Allowing
 * ".." only as a prefix matters: the link's own directory is a real
 * directory, so climbing from it is exact, while a ".." after a name could
 * climb out of a directory reached through another symlink.
 */
int
pkg_field_check_symlink(const char *path, const char *target, char *err,
    size_t errlen)
{
	const char	*p, *end;
	size_t		 depth = 0, up = 0, clen;
	int		 named = 0;

	for (p = path; (p = strchr(p, '/')) != NULL; p++)
		depth++;
	if (*target == '\0') {
		snprintf(err, errlen, "%s: symlink with an empty target", path);
		return (-1);
	}
	if (strlen(target) > PKG_PATH_MAX) {
		snprintf(err, errlen, "%s: symlink target of %zu bytes, limit "
		    "%d", path, strlen(target), PKG_PATH_MAX);
		return (-1);
	}
	if (target[0] == '/') {
		snprintf(err, errlen, "%s: symlink to the absolute path %s; "
		    "symlinks must point inside the package folder", path,
		    target);
		return (-1);
	}
	for (p = target; ; p = end + 1) {
		end = strchr(p, '/');
		clen = end == NULL ? strlen(p) : (size_t)(end - p);
		if (clen == 2 && p[0] == '.' && p[1] == '.') {
			if (named) {
				snprintf(err, errlen, "%s: symlink target %s "
				    "has '..' after a name; only leading '..' "
				    "components are allowed", path, target);
				return (-1);
			}
			if (++up > depth) {
				snprintf(err, errlen, "%s: symlink to %s points "
				    "outside the package folder", path, target);
				return (-1);
			}
		} else if (clen > 0 && !(clen == 1 && p[0] == '.'))
			named = 1;
		if (end == NULL)
			break;
	}
	return (0);
}

static int
pkg_field_days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
		return (29);
	return (days[month - 1]);
}

/* A real date: year 1-9999, the month's own number of days. */
int
pkg_field_date_valid(int year, int month, int day)
{
	return (year >= 1 && year <= 9999 && month >= 1 && month <= 12 &&
	    day >= 1 && day <= pkg_field_days_in_month(year, month));
}

/* P3: YYYY/MM/DD, a real date; never "corrected". */
int
pkg_field_parse_date(const char *name, const char *s, struct pkg_manifest *m,
    char *err, size_t errlen)
{
	int	i, year, month, day;

	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '/')
				break;
		} else if (s[i] < '0' || s[i] > '9')
			break;
	}
	if (i != 10 || s[10] != '\0') {
		snprintf(err, errlen, "%s: '%s' is not YYYY/MM/DD (4-digit "
		    "year, 2-digit month and day)", name, s);
		return (-1);
	}
	year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	month = (s[5] - '0') * 10 + (s[6] - '0');
	day = (s[8] - '0') * 10 + (s[9] - '0');
	if (!pkg_field_date_valid(year, month, day)) {
		snprintf(err, errlen, "%s: %s is not a real date (YYYY/MM/DD)",
		    name, s);
		return (-1);
	}
	m->year = year;
	m->month = month;
	m->day = day;
	return (0);
}

void
pkg_field_format_date(const struct pkg_manifest *m, char *buf, size_t len)
{
	if (m->year == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%04u/%02u/%02u", m->year, m->month, m->day);
}

static const char *pkg_field_type_names[] = {
	[PKG_SERVICEPACK] = "servicepack",
	[PKG_HOTFIX] = "hotfix",
	[PKG_APPLICATION] = "application",
};

static const char *pkg_field_urgency_names[] = {
	[PKG_URGENCY_HIGHEST] = "highest",
	[PKG_URGENCY_HIGH] = "high",
	[PKG_URGENCY_NORMAL] = "normal",
	[PKG_URGENCY_LOW] = "low",
};

const char *
pkg_field_type_name(enum pkg_type t)
{
	if (t < PKG_SERVICEPACK || t > PKG_APPLICATION)
		return ("unknown");
	return (pkg_field_type_names[t]);
}

const char *
pkg_field_urgency_name(enum pkg_urgency u)
{
	if (u < PKG_URGENCY_HIGHEST || u > PKG_URGENCY_LOW)
		return ("unknown");
	return (pkg_field_urgency_names[u]);
}

const char *
pkg_field_compression_name(enum pkg_compression c)
{
	switch (c) {
	case PKG_COMPRESS_NONE:
		return ("none");
	case PKG_COMPRESS_ZSTD:
		return ("zstd");
	}
	return ("unknown");
}

int
pkg_field_parse_type(const char *name, const char *s, enum pkg_type *t,
    char *err, size_t errlen)
{
	int	i;

	for (i = PKG_SERVICEPACK; i <= PKG_APPLICATION; i++) {
		if (strcmp(s, pkg_field_type_names[i]) == 0) {
			*t = i;
			return (0);
		}
	}
	snprintf(err, errlen, "%s: '%s' is not one of servicepack, hotfix, "
	    "application", name, s);
	return (-1);
}

int
pkg_field_parse_urgency(const char *name, const char *s, enum pkg_urgency *u,
    char *err, size_t errlen)
{
	int	i;

	for (i = PKG_URGENCY_HIGHEST; i <= PKG_URGENCY_LOW; i++) {
		if (strcmp(s, pkg_field_urgency_names[i]) == 0) {
			*u = i;
			return (0);
		}
	}
	snprintf(err, errlen, "%s: '%s' is not one of highest, high, normal, "
	    "low", name, s);
	return (-1);
}

/* A decimal number from 0 to 65535, digits only (no sign, no spaces). */
int
pkg_field_parse_u16(const char *name, const char *s, uint16_t *out, char *err,
    size_t errlen)
{
	unsigned long	v = 0;
	size_t		i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 5)
			break;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0 || s[i] != '\0' || v > UINT16_MAX) {
		snprintf(err, errlen, "%s: '%s' is not a number from 0 to "
		    "65535", name, s);
		return (-1);
	}
	*out = (uint16_t)v;
	return (0);
}

/* Append to a list of at most max entries; duplicates are refused. */
int
pkg_field_list_add(const char *name, struct pkg_list *l, const char *s,
    size_t max, char *err, size_t errlen)
{
	size_t	i;

	if (l->n >= max) {
		snprintf(err, errlen, "%s: more than %zu values, limit %zu",
		    name, max, max);
		return (-1);
	}
	for (i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], s) == 0) {
			snprintf(err, errlen, "%s: '%s' given twice; each value "
			    "may appear once", name, s);
			return (-1);
		}
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
	return (0);
}

void
pkg_field_list_free(struct pkg_list *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Is the block all zero bytes (a hole to leave, not data to write)? */
int
pkg_field_all_zero(const uint8_t *p, size_t len)
{
	return (len > 0 && p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}
