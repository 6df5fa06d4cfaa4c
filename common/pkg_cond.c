/*
 * Dependency conditions of a package (MISSION.md P10) and their evaluation
 * against the facts an agent reports.  A condition is "FACT exists",
 * "FACT == VALUE" or "FACT >= VERSION", or built of them: "any(A, B, ...)"
 * holds when one of its terms does, "not A" when A does not (a term of
 * either may be a bare FACT, short for "FACT exists"), so that "SP1 or SP2
 * installed" is one condition.  Versions compare the way dpkg compares
 * them (epoch, upstream version, revision; digits numerically, '~' before
 * anything, even the end), which orders kernel, distribution and package
 * versions the way admins expect.  The manifest stores a condition as a
 * tree (pkg_cond_encode); a failing one is reported with the term that
 * failed and the fact it saw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg.h"
#include "wire.h"
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

#define PKG_COND_RULE	"conditions are 'FACT exists', 'FACT == VALUE', " \
	"'FACT >= VERSION', 'any(COND, ...)' or 'not COND'"

/* Where a parse is: the whole text (for messages) and the cursor. */
struct pkg_cond_in {
	const char	*name;
	const char	*text;
	const char	*p;
	char		*err;
	size_t		 errlen;
};

static int
pkg_cond_fail(struct pkg_cond_in *in, const char *msg)
{
	snprintf(in->err, in->errlen, "%s: '%s' %s; %s", in->name, in->text,
	    msg, PKG_COND_RULE);
	return (-1);
}

static void
pkg_cond_blanks(struct pkg_cond_in *in)
{
	while (pkg_is_blank(*in->p))
		in->p++;
}

/* The end of a term: the text's, or inside any() a ',' or ')'. */
static int
pkg_cond_at_end(const char *p, int nested)
{
	return (*p == '\0' || (nested && (*p == ',' || *p == ')')));
}

static int pkg_cond_term(struct pkg_cond_in *, struct pkg_cond *, int, int);

/*
 * A leaf: FACT, then exists / == VALUE / >= VERSION.  At the top a value
 * runs to the end of the text (trailing blanks dropped), so that "==" can
 * compare values holding spaces; inside any() it ends at ',' or ')'.
 * Inside any() or after not a bare FACT means FACT exists.
 */
static int
pkg_cond_leaf(struct pkg_cond_in *in, struct pkg_cond *c, int nested,
    int inner)
{
	const char	*fact, *val, *end;
	size_t		 flen, vlen, i;
	enum pkg_cond_op op;

	fact = in->p;
	while (pkg_is_fact_char(*in->p))
		in->p++;
	flen = in->p - fact;
	if (flen == 0)
		return (pkg_cond_fail(in, *in->p == '\0' ? "has no fact name "
		    "where one is needed" : "does not start with a fact name"));
	if (!pkg_cond_at_end(in->p, nested) && !pkg_is_blank(*in->p) &&
	    *in->p != '=' && *in->p != '>' && *in->p != '<' && *in->p != '!') {
		snprintf(in->err, in->errlen, "%s: fact name in '%s' holds "
		    "'%c'; a fact name is 1-%d bytes of A-Z a-z 0-9 _ . -",
		    in->name, in->text, *in->p, PKG_FACT_MAX);
		return (-1);
	}
	if (flen > PKG_FACT_MAX) {
		snprintf(in->err, in->errlen, "%s: fact name of %zu bytes, "
		    "limit %d", in->name, flen, PKG_FACT_MAX);
		return (-1);
	}
	/*
	 * "exists" is the operator: as a fact name it reads two ways
	 * ("not(exists)" would format as "not exists exists").
	 */
	if (flen == 6 && strncmp(fact, "exists", 6) == 0) {
		snprintf(in->err, in->errlen, "%s: 'exists' in '%s' stands "
		    "where a fact name is needed; 'exists' is the operator and "
		    "cannot name a fact", in->name, in->text);
		return (-1);
	}
	pkg_cond_blanks(in);
	if (inner && pkg_cond_at_end(in->p, nested)) {
		c->op = PKG_COND_EXISTS;
		c->fact = xstrndup(fact, flen);
		return (0);
	}
	if (strncmp(in->p, "exists", 6) == 0) {
		for (end = in->p + 6; pkg_is_blank(*end); end++)
			;
		if (!pkg_cond_at_end(end, nested))
			return (pkg_cond_fail(in, "has text after 'exists'"));
		in->p = end;
		c->op = PKG_COND_EXISTS;
		c->fact = xstrndup(fact, flen);
		return (0);
	}
	if (strncmp(in->p, "==", 2) == 0)
		op = PKG_COND_EQ;
	else if (strncmp(in->p, ">=", 2) == 0)
		op = PKG_COND_GE;
	else
		return (pkg_cond_fail(in, "needs 'exists', '==' or '>=' "
		    "after the fact name"));
	for (in->p += 2; pkg_is_blank(*in->p); in->p++)
		;
	val = in->p;
	while (!pkg_cond_at_end(in->p, nested))
		in->p++;
	vlen = in->p - val;
	while (vlen > 0 && pkg_is_blank(val[vlen - 1]))
		vlen--;
	if (vlen == 0)
		return (pkg_cond_fail(in, op == PKG_COND_EQ ?
		    "has no value after '=='" : "has no value after '>='"));
	if (vlen > PKG_VALUE_MAX) {
		snprintf(in->err, in->errlen, "%s: value of %zu bytes, limit %d",
		    in->name, vlen, PKG_VALUE_MAX);
		return (-1);
	}
	c->value = xstrndup(val, vlen);
	if (pkg_field_check_text(in->name, c->value, PKG_VALUE_MAX, 0,
	    in->err, in->errlen) == -1)
		goto bad;
	if (op == PKG_COND_GE) {
		for (i = 0; i < vlen; i++) {
			if (!pkg_is_version_char(val[i])) {
				snprintf(in->err, in->errlen, "%s: '%s' is not "
				    "a version; a version holds only A-Z a-z "
				    "0-9 . + ~ : _ -", in->name, c->value);
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

/* "any" or "not" as a keyword: followed by '(' or a term, not an operator. */
static int
pkg_cond_keyword(const char *p, const char *kw, int nested)
{
	size_t	n = strlen(kw);

	if (strncmp(p, kw, n) != 0)
		return (0);
	p += n;
	if (*p == '(')
		return (1);
	if (!pkg_is_blank(*p))
		return (0);	/* a fact whose name starts so */
	while (pkg_is_blank(*p))
		p++;
	/* "not exists", "any == x": a fact named so ("not existsx" is not). */
	if (strncmp(p, "exists", 6) == 0 && !pkg_is_fact_char(p[6]))
		return (0);
	return (!pkg_cond_at_end(p, nested) && strncmp(p, "==", 2) != 0 &&
	    strncmp(p, ">=", 2) != 0);
}

/* any(TERM, TERM, ...): after the keyword. */
static int
pkg_cond_any(struct pkg_cond_in *in, struct pkg_cond *c, int depth)
{
	pkg_cond_blanks(in);
	if (*in->p != '(')
		return (pkg_cond_fail(in, "needs '(' and the terms after 'any'"));
	in->p++;
	c->op = PKG_COND_ANY;
	for (;;) {
		if (c->nsub >= PKG_LIST_MAX) {
			snprintf(in->err, in->errlen, "%s: any() of more than %d "
			    "terms", in->name, PKG_LIST_MAX);
			return (-1);
		}
		c->sub = xreallocarray(c->sub, c->nsub + 1, sizeof(*c->sub));
		memset(&c->sub[c->nsub], 0, sizeof(*c->sub));
		c->nsub++;
		if (pkg_cond_term(in, &c->sub[c->nsub - 1], 1, depth + 1) == -1)
			return (-1);
		pkg_cond_blanks(in);
		if (*in->p == ',') {
			in->p++;
			continue;
		}
		if (*in->p == ')') {
			in->p++;
			return (0);
		}
		return (pkg_cond_fail(in, "does not close any( with ')'"));
	}
}

/* One term: any(...), not TERM, (TERM) or a leaf. */
static int
pkg_cond_term(struct pkg_cond_in *in, struct pkg_cond *c, int nested,
    int depth)
{
	memset(c, 0, sizeof(*c));
	if (depth > PKG_COND_DEPTH_MAX) {
		snprintf(in->err, in->errlen, "%s: conditions nested deeper "
		    "than %d", in->name, PKG_COND_DEPTH_MAX);
		return (-1);
	}
	pkg_cond_blanks(in);
	if (pkg_cond_keyword(in->p, "any", nested)) {
		in->p += 3;
		return (pkg_cond_any(in, c, depth));
	}
	if (pkg_cond_keyword(in->p, "not", nested)) {
		in->p += 3;
		c->op = PKG_COND_NOT;
		c->sub = xcalloc(1, sizeof(*c->sub));
		c->nsub = 1;
		return (pkg_cond_term(in, c->sub, nested, depth + 1));
	}
	if (*in->p == '(') {
		in->p++;
		if (pkg_cond_term(in, c, 1, depth + 1) == -1)
			return (-1);
		pkg_cond_blanks(in);
		if (*in->p != ')')
			return (pkg_cond_fail(in, "does not close '(' "
			    "with ')'"));
		in->p++;
		return (0);
	}
	return (pkg_cond_leaf(in, c, nested, depth > 0));
}

/*
 * Parse one condition; its canonical text (pkg_cond_format) must fit in
 * PKG_COND_TEXT_MAX bytes.
 */
int
pkg_cond_parse(const char *name, const char *text, struct pkg_cond *c,
    char *err, size_t errlen)
{
	struct pkg_cond_in	 in = { name, text, text, err, errlen };
	char			*buf;
	size_t			 len;

	if (pkg_cond_term(&in, c, 0, 0) == -1)
		goto bad;
	pkg_cond_blanks(&in);
	if (*in.p != '\0') {
		pkg_cond_fail(&in, "has text after the condition");
		goto bad;
	}
	buf = xmalloc(PKG_COND_TEXT_MAX + 2);
	len = pkg_cond_format(c, buf, PKG_COND_TEXT_MAX + 2);
	free(buf);
	if (len > PKG_COND_TEXT_MAX) {
		snprintf(err, errlen, "%s: a condition of %zu bytes (as "
		    "written canonically), limit %d", name, len,
		    PKG_COND_TEXT_MAX);
		goto bad;
	}
	return (0);

bad:
	pkg_cond_free(c);
	return (-1);
}

void
pkg_cond_free(struct pkg_cond *c)
{
	size_t	i;

	for (i = 0; i < c->nsub; i++)
		pkg_cond_free(&c->sub[i]);
	free(c->sub);
	free(c->fact);
	free(c->value);
	memset(c, 0, sizeof(*c));
}

/* 1 when a and b are the same condition. */
int
pkg_cond_equal(const struct pkg_cond *a, const struct pkg_cond *b)
{
	size_t	i;

	if (a->op != b->op || a->nsub != b->nsub ||
	    (a->fact == NULL) != (b->fact == NULL) ||
	    (a->fact != NULL && strcmp(a->fact, b->fact) != 0) ||
	    (a->value == NULL) != (b->value == NULL) ||
	    (a->value != NULL && strcmp(a->value, b->value) != 0))
		return (0);
	for (i = 0; i < a->nsub; i++)
		if (!pkg_cond_equal(&a->sub[i], &b->sub[i]))
			return (0);
	return (1);
}

/* Append to a bounded buffer, counting what would have been written. */
static void
pkg_cond_put(char *buf, size_t len, size_t *off, const char *s)
{
	size_t	n = strlen(s);

	if (*off < len)
		snprintf(buf + *off, len - *off, "%s", s);
	*off += n;
}

static void
pkg_cond_fmt(const struct pkg_cond *c, char *buf, size_t len, size_t *off)
{
	size_t	i;

	switch (c->op) {
	case PKG_COND_EXISTS:
		pkg_cond_put(buf, len, off, c->fact);
		pkg_cond_put(buf, len, off, " exists");
		break;
	case PKG_COND_EQ:
	case PKG_COND_GE:
		pkg_cond_put(buf, len, off, c->fact);
		pkg_cond_put(buf, len, off, c->op == PKG_COND_EQ ? " == " :
		    " >= ");
		pkg_cond_put(buf, len, off, c->value);
		break;
	case PKG_COND_ANY:
		pkg_cond_put(buf, len, off, "any(");
		for (i = 0; i < c->nsub; i++) {
			if (i > 0)
				pkg_cond_put(buf, len, off, ", ");
			pkg_cond_fmt(&c->sub[i], buf, len, off);
		}
		pkg_cond_put(buf, len, off, ")");
		break;
	case PKG_COND_NOT:
		pkg_cond_put(buf, len, off, "not ");
		if (c->nsub == 1)
			pkg_cond_fmt(&c->sub[0], buf, len, off);
		break;
	default:
		pkg_cond_put(buf, len, off, "?");
		break;
	}
}

/*
 * The canonical text: "FACT exists", "FACT == VALUE", "FACT >= VERSION",
 * "any(A, B)", "not A".  Returns the length it needs (as snprintf does);
 * the text is cut to fit len.
 */
size_t
pkg_cond_format(const struct pkg_cond *c, char *buf, size_t len)
{
	size_t	off = 0;

	if (len > 0)
		buf[0] = '\0';
	pkg_cond_fmt(c, buf, len, &off);
	return (off);
}

/*
 * A condition as decoded from a manifest: well formed (each op with its
 * fields), and in canonical form, which re-parsing its text shows (this
 * applies every parser rule).  name says which one in messages.
 */
int
pkg_cond_check(const char *name, const struct pkg_cond *c, char *err,
    size_t errlen)
{
	struct pkg_cond	 p;
	char		*text;
	int		 rv = -1;

	text = xmalloc(PKG_COND_TEXT_MAX + 2);
	if (pkg_cond_format(c, text, PKG_COND_TEXT_MAX + 2) >
	    PKG_COND_TEXT_MAX) {
		snprintf(err, errlen, "%s: a condition longer than %d bytes",
		    name, PKG_COND_TEXT_MAX);
		goto out;
	}
	if (pkg_cond_parse(name, text, &p, err, errlen) == -1)
		goto out;
	if (!pkg_cond_equal(&p, c))
		snprintf(err, errlen, "%s: not in canonical form", name);
	else
		rv = 0;
	pkg_cond_free(&p);
out:
	free(text);
	return (rv);
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

/*
 * Evaluate c; detail says why it holds or not, naming the term and the
 * fact it saw ("the machine has no fact pkg.SP1", "kernel is '6.1'").
 */
static int
pkg_cond_eval_in(const struct pkg_cond *c, pkg_fact_fn lookup, void *arg,
    char *detail, size_t len)
{
	const char	*v;
	char		 term[PKG_COND_TEXT_MAX + 2], sub[1024];
	size_t		 i, off;
	int		 ok = 0;

	switch (c->op) {
	case PKG_COND_ANY:
		off = 0;
		pkg_cond_put(detail, len, &off, "none of its terms holds: ");
		for (i = 0; i < c->nsub; i++) {
			if (pkg_cond_eval_in(&c->sub[i], lookup, arg, sub,
			    sizeof(sub))) {
				pkg_cond_format(&c->sub[i], term, sizeof(term));
				snprintf(detail, len, "'%s' holds: %s", term,
				    sub);
				return (1);
			}
			pkg_cond_format(&c->sub[i], term, sizeof(term));
			pkg_cond_put(detail, len, &off, i > 0 ? "; '" : "'");
			pkg_cond_put(detail, len, &off, term);
			pkg_cond_put(detail, len, &off, "': ");
			pkg_cond_put(detail, len, &off, sub);
		}
		return (0);
	case PKG_COND_NOT:
		if (c->nsub != 1)
			break;
		ok = !pkg_cond_eval_in(&c->sub[0], lookup, arg, sub,
		    sizeof(sub));
		pkg_cond_format(&c->sub[0], term, sizeof(term));
		snprintf(detail, len, "'%s' %s: %s", term, ok ? "does not hold" :
		    "holds", sub);
		return (ok);
	default:
		break;
	}
	if (c->fact == NULL) {
		snprintf(detail, len, "a malformed condition");
		return (0);
	}
	v = lookup(arg, c->fact);
	/* A superseded package counts as there, in any version. */
	if (v == pkg_fact_superseded) {
		snprintf(detail, len, "%s is superseded by an installed package",
		    c->fact);
		return (1);
	}
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
	default:
		break;
	}
	if (v == NULL)
		snprintf(detail, len, "the machine has no fact %s", c->fact);
	else
		snprintf(detail, len, "%s is '%s'", c->fact, v);
	return (ok);
}

/* 1 if the condition holds, 0 if not (why names the failing term). */
int
pkg_cond_eval(const struct pkg_cond *c, pkg_fact_fn lookup, void *arg,
    char *why, size_t whylen)
{
	char	text[PKG_COND_TEXT_MAX + 2], detail[2048];

	if (pkg_cond_eval_in(c, lookup, arg, detail, sizeof(detail)))
		return (1);
	pkg_cond_format(c, text, sizeof(text));
	snprintf(why, whylen, "requires '%s': %s", text, detail);
	return (0);
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

/*
 * The manifest's form of a condition: op u8, then for a leaf fact str8
 * and value str8 (empty for exists), for any a u8 count (1-64) and the
 * terms, for not its one term.  Leaves are byte for byte what they were
 * before any and not existed.
 */
static void
pkg_cond_put_str8(struct wire_w *w, const char *s)
{
	size_t	len = s == NULL ? 0 : strlen(s);

	wire_put_u8(w, (uint8_t)len);
	wire_put_bytes(w, s == NULL ? "" : s, len);
}

void
pkg_cond_encode(const struct pkg_cond *c, struct wire_w *w)
{
	size_t	i;

	wire_put_u8(w, (uint8_t)c->op);
	switch (c->op) {
	case PKG_COND_ANY:
		wire_put_u8(w, (uint8_t)c->nsub);
		for (i = 0; i < c->nsub; i++)
			pkg_cond_encode(&c->sub[i], w);
		break;
	case PKG_COND_NOT:
		pkg_cond_encode(&c->sub[0], w);
		break;
	default:
		pkg_cond_put_str8(w, c->fact);
		pkg_cond_put_str8(w, c->value);
		break;
	}
}

static int
pkg_cond_get_str8(struct wire_r *r, char **out, char *err, size_t errlen)
{
	const uint8_t	*p;
	uint8_t		 len;

	if (wire_get_u8(r, &len) == -1 || wire_get_ptr(r, &p, len) == -1) {
		snprintf(err, errlen, "manifest: truncated in requires");
		return (-1);
	}
	if (memchr(p, '\0', len) != NULL) {
		snprintf(err, errlen, "manifest: requires: holds a NUL byte");
		return (-1);
	}
	*out = xstrndup((const char *)p, len);
	return (0);
}

/*
 * Decode one condition (hostile input: the nesting and the counts are
 * bounded before anything is allocated for them).  The result is well
 * formed as a tree; pkg_cond_check applies the text rules.
 */
static int
pkg_cond_decode_in(struct wire_r *r, struct pkg_cond *c, int depth, char *err,
    size_t errlen)
{
	uint8_t	op, n;
	size_t	i;

	memset(c, 0, sizeof(*c));
	if (depth > PKG_COND_DEPTH_MAX) {
		snprintf(err, errlen, "manifest: requires: conditions nested "
		    "deeper than %d", PKG_COND_DEPTH_MAX);
		return (-1);
	}
	if (wire_get_u8(r, &op) == -1) {
		snprintf(err, errlen, "manifest: truncated in requires");
		return (-1);
	}
	c->op = op;
	switch (op) {
	case PKG_COND_EXISTS:
	case PKG_COND_EQ:
	case PKG_COND_GE:
		if (pkg_cond_get_str8(r, &c->fact, err, errlen) == -1 ||
		    pkg_cond_get_str8(r, &c->value, err, errlen) == -1)
			return (-1);
		if (op == PKG_COND_EXISTS) {
			if (c->value[0] != '\0') {
				snprintf(err, errlen, "manifest: requires: "
				    "'exists' with a value");
				return (-1);
			}
			free(c->value);
			c->value = NULL;
		}
		return (0);
	case PKG_COND_ANY:
		if (wire_get_u8(r, &n) == -1) {
			snprintf(err, errlen, "manifest: truncated in requires");
			return (-1);
		}
		if (n == 0 || n > PKG_LIST_MAX) {
			snprintf(err, errlen, "manifest: requires: any() of %u "
			    "terms (1-%d)", n, PKG_LIST_MAX);
			return (-1);
		}
		c->sub = xcalloc(n, sizeof(*c->sub));
		for (i = 0; i < n; i++) {
			c->nsub++;
			if (pkg_cond_decode_in(r, &c->sub[i], depth + 1, err,
			    errlen) == -1)
				return (-1);
		}
		return (0);
	case PKG_COND_NOT:
		c->sub = xcalloc(1, sizeof(*c->sub));
		c->nsub = 1;
		return (pkg_cond_decode_in(r, c->sub, depth + 1, err, errlen));
	default:
		snprintf(err, errlen, "manifest: requires: unknown condition "
		    "operator %u (a newer package format?)", op);
		return (-1);
	}
}

int
pkg_cond_decode(struct wire_r *r, struct pkg_cond *c, char *err,
    size_t errlen)
{
	if (pkg_cond_decode_in(r, c, 0, err, errlen) == -1) {
		pkg_cond_free(c);
		return (-1);
	}
	return (0);
}
