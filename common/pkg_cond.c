/*
 * Dependency conditions of a package (MISSION.md P10) and their evaluation
 * against the facts an agent reports.  A condition is "FACT exists",
 * "FACT == VALUE" or "FACT >= VERSION"; versions compare the way dpkg
 * compares them (epoch, upstream version, revision; digits numerically,
 * '~' before anything, even the end), which orders kernel, distribution
 * and package versions the way admins expect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg.h"
#include "xmalloc.h"

static int
pkg_is_fact_char(unsigned char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-');
}

static int
pkg_is_version_char(unsigned char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '~' ||
	    c == ':' || c == '_' || c == '-');
}

static int
pkg_is_blank(char c)
{
	return (c == ' ' || c == '\t');
}

#define PKG_COND_RULE	"conditions are 'FACT exists', 'FACT == VALUE' or " \
	"'FACT >= VERSION'"

/*
 * Parse one condition.  Blanks around the operator are optional; the value
 * runs to the end of the text (trailing blanks dropped), so that "==" can
 * compare values holding spaces.
 */
int
pkg_cond_parse(const char *name, const char *text, struct pkg_cond *c,
    char *err, size_t errlen)
{
	const char	*p = text, *fact, *val, *end;
	size_t		 flen, vlen, i;
	enum pkg_cond_op op;

	memset(c, 0, sizeof(*c));
	while (pkg_is_blank(*p))
		p++;
	fact = p;
	while (pkg_is_fact_char(*p))
		p++;
	flen = p - fact;
	if (flen == 0) {
		snprintf(err, errlen, "%s: '%s' does not start with a fact "
		    "name; %s", name, text, PKG_COND_RULE);
		return (-1);
	}
	if (*p != '\0' && !pkg_is_blank(*p) && *p != '=' && *p != '>' &&
	    *p != '<' && *p != '!') {
		snprintf(err, errlen, "%s: fact name in '%s' holds '%c'; a fact "
		    "name is 1-%d bytes of A-Z a-z 0-9 _ . -", name, text, *p,
		    PKG_FACT_MAX);
		return (-1);
	}
	if (flen > PKG_FACT_MAX) {
		snprintf(err, errlen, "%s: fact name of %zu bytes, limit %d",
		    name, flen, PKG_FACT_MAX);
		return (-1);
	}
	while (pkg_is_blank(*p))
		p++;
	if (strncmp(p, "exists", 6) == 0) {
		for (end = p + 6; pkg_is_blank(*end); end++)
			;
		if (*end != '\0') {
			snprintf(err, errlen, "%s: '%s' has text after "
			    "'exists'; %s", name, text, PKG_COND_RULE);
			return (-1);
		}
		c->op = PKG_COND_EXISTS;
		c->fact = xstrndup(fact, flen);
		return (0);
	}
	if (strncmp(p, "==", 2) == 0)
		op = PKG_COND_EQ;
	else if (strncmp(p, ">=", 2) == 0)
		op = PKG_COND_GE;
	else {
		snprintf(err, errlen, "%s: '%s' needs 'exists', '==' or '>=' "
		    "after the fact name; %s", name, text, PKG_COND_RULE);
		return (-1);
	}
	for (p += 2; pkg_is_blank(*p); p++)
		;
	val = p;
	vlen = strlen(val);
	while (vlen > 0 && pkg_is_blank(val[vlen - 1]))
		vlen--;
	if (vlen == 0) {
		snprintf(err, errlen, "%s: '%s' has no value after '%s'; %s",
		    name, text, op == PKG_COND_EQ ? "==" : ">=", PKG_COND_RULE);
		return (-1);
	}
	if (vlen > PKG_VALUE_MAX) {
		snprintf(err, errlen, "%s: value of %zu bytes, limit %d", name,
		    vlen, PKG_VALUE_MAX);
		return (-1);
	}
	c->value = xstrndup(val, vlen);
	if (pkg_field_check_text(name, c->value, PKG_VALUE_MAX, 0, err,
	    errlen) == -1)
		goto bad;
	if (op == PKG_COND_GE) {
		for (i = 0; i < vlen; i++) {
			if (!pkg_is_version_char(val[i])) {
				snprintf(err, errlen, "%s: '%s' is not a "
				    "version; a version holds only A-Z a-z 0-9 "
				    ". + ~ : _ -", name, c->value);
				goto bad;
			}
		}
	}
	c->op = op;
	c->fact = xstrndup(fact, flen);
	return (0);

bad:
	free(c->value);
	c->value = NULL;
	return (-1);
}

void
pkg_cond_free(struct pkg_cond *c)
{
	free(c->fact);
	free(c->value);
	c->fact = c->value = NULL;
}

/* The canonical text: "FACT exists", "FACT == VALUE", "FACT >= VERSION". */
void
pkg_cond_format(const struct pkg_cond *c, char *buf, size_t len)
{
	switch (c->op) {
	case PKG_COND_EXISTS:
		snprintf(buf, len, "%s exists", c->fact);
		break;
	case PKG_COND_EQ:
		snprintf(buf, len, "%s == %s", c->fact, c->value);
		break;
	case PKG_COND_GE:
		snprintf(buf, len, "%s >= %s", c->fact, c->value);
		break;
	default:
		snprintf(buf, len, "%s ?", c->fact);
		break;
	}
}

/* One character's weight in a non-digit run: '~' < end < letters < rest. */
static int
pkg_ver_order(const char *s, size_t len, size_t i)
{
	unsigned char	c;

	if (i >= len)
		return (0);
	c = s[i];
	if (c >= '0' && c <= '9')
		return (0);
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
		return (c);
	if (c == '~')
		return (-1);
	return (c + 256);
}

static int
pkg_isdigit_at(const char *s, size_t len, size_t i)
{
	return (i < len && s[i] >= '0' && s[i] <= '9');
}

/*
 * Compare two version parts: alternate runs of non-digits (compared by
 * pkg_ver_order) and digits (compared as numbers of any length).
 */
static int
pkg_ver_part_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	i = 0, j = 0;
	int	oa, ob, first;

	while (i < alen || j < blen) {
		while ((i < alen && !pkg_isdigit_at(a, alen, i)) ||
		    (j < blen && !pkg_isdigit_at(b, blen, j))) {
			oa = pkg_ver_order(a, alen, i);
			ob = pkg_ver_order(b, blen, j);
			if (oa != ob)
				return (oa - ob);
			i++;
			j++;
		}
		while (i < alen && a[i] == '0')
			i++;
		while (j < blen && b[j] == '0')
			j++;
		first = 0;
		while (pkg_isdigit_at(a, alen, i) && pkg_isdigit_at(b, blen, j)) {
			if (first == 0)
				first = a[i] - b[j];
			i++;
			j++;
		}
		if (pkg_isdigit_at(a, alen, i))
			return (1);
		if (pkg_isdigit_at(b, blen, j))
			return (-1);
		if (first != 0)
			return (first);
	}
	return (0);
}

/* Split [epoch:]upstream[-revision]; the epoch only if it is all digits. */
static void
pkg_ver_split(const char *v, const char **ep, size_t *eplen, const char **up,
    size_t *uplen, const char **rev, size_t *revlen)
{
	const char	*colon, *dash, *p;

	*ep = "";
	*eplen = 0;
	colon = strchr(v, ':');
	if (colon != NULL && colon > v) {
		for (p = v; p < colon && *p >= '0' && *p <= '9'; p++)
			;
		if (p == colon) {
			*ep = v;
			*eplen = colon - v;
			v = colon + 1;
		}
	}
	dash = strrchr(v, '-');
	if (dash != NULL) {
		*up = v;
		*uplen = dash - v;
		*rev = dash + 1;
		*revlen = strlen(dash + 1);
	} else {
		*up = v;
		*uplen = strlen(v);
		*rev = "";
		*revlen = 0;
	}
}

/* Compare two versions as dpkg does: < 0, 0 or > 0. */
int
pkg_vercmp(const char *a, const char *b)
{
	const char	*ae, *au, *ar, *be, *bu, *br;
	size_t		 ael, aul, arl, bel, bul, brl;
	int		 rv;

	pkg_ver_split(a, &ae, &ael, &au, &aul, &ar, &arl);
	pkg_ver_split(b, &be, &bel, &bu, &bul, &br, &brl);
	/* An epoch is a number: the digit rule of the part compare fits. */
	if ((rv = pkg_ver_part_cmp(ae, ael, be, bel)) != 0)
		return (rv);
	if ((rv = pkg_ver_part_cmp(au, aul, bu, bul)) != 0)
		return (rv);
	return (pkg_ver_part_cmp(ar, arl, br, brl));
}

const char pkg_fact_superseded[] = "superseded";

/* 1 if the condition holds, 0 if not (why says what the fact was). */
int
pkg_cond_eval(const struct pkg_cond *c, pkg_fact_fn lookup, void *arg,
    char *why, size_t whylen)
{
	const char	*v;
	char		 text[2 * 256 + 16];
	int		 ok = 0;

	v = lookup(arg, c->fact);
	/* A superseded package counts as there, in any version. */
	if (v == pkg_fact_superseded)
		return (1);
	switch (c->op) {
	case PKG_COND_EXISTS:
		ok = v != NULL;
		break;
	case PKG_COND_EQ:
		ok = v != NULL && strcmp(v, c->value) == 0;
		break;
	case PKG_COND_GE:
		ok = v != NULL && pkg_vercmp(v, c->value) >= 0;
		break;
	}
	if (!ok) {
		pkg_cond_format(c, text, sizeof(text));
		if (v == NULL)
			snprintf(why, whylen, "requires '%s': the machine has "
			    "no fact %s", text, c->fact);
		else
			snprintf(why, whylen, "requires '%s': %s is '%s'",
			    text, c->fact, v);
	}
	return (ok);
}

/* 1 if every condition holds, else 0 with the first failing one in why. */
int
pkg_requires_eval(const struct pkg_manifest *m, pkg_fact_fn lookup, void *arg,
    char *why, size_t whylen)
{
	size_t	i;

	for (i = 0; i < m->nrequires; i++)
		if (!pkg_cond_eval(&m->requires[i], lookup, arg, why, whylen))
			return (0);
	return (1);
}
