/*
 * Fuzz target for package dependency conditions and version order
 * (common/pkg_cond.c), which an agent evaluates on a signed manifest's
 * "requires" and the CLI parses from --requires.  The input is split at
 * its first NUL: the first part is parsed as a condition (any(), not and
 * nesting included), which must format back to text that parses to the
 * same condition, pass pkg_cond_check, and survive the manifest's tree
 * encoding unchanged; it is evaluated against a machine whose facts all
 * have the second part as their value, and "not" of it must give the
 * opposite answer.  The second part is also decoded as an encoded
 * condition (hostile manifest bytes).  Both parts, and each against
 * itself, go through pkg_vercmp, which must be an order: reflexive and
 * antisymmetric.
 */
#include "pkg.h"
#include "wire.h"

#define FUZZ_NAME	"cond"
#define FUZZ_MAX_LEN	8192
#include "fuzz.h"

static int
sign(int v)
{
	return (v < 0 ? -1 : v > 0);
}

static const char *
lookup(void *arg, const char *fact)
{
	(void)fact;
	return (arg);
}

/* Every leaf of an all-facts machine: what it must say. */
static int
leaf_holds(const struct pkg_cond *c, const char *value)
{
	switch (c->op) {
	case PKG_COND_EXISTS:
		return (1);
	case PKG_COND_EQ:
		return (strcmp(c->value, value) == 0);
	case PKG_COND_GE:
		return (pkg_vercmp(value, c->value) >= 0);
	default:
		return (-1);
	}
}

/* What c must evaluate to, computed apart from pkg_cond_eval. */
static int
expect(const struct pkg_cond *c, const char *value)
{
	size_t	i;

	switch (c->op) {
	case PKG_COND_ANY:
		for (i = 0; i < c->nsub; i++)
			if (expect(&c->sub[i], value))
				return (1);
		return (0);
	case PKG_COND_NOT:
		return (!expect(&c->sub[0], value));
	default:
		return (leaf_holds(c, value));
	}
}

static void
check_cond(const char *text, char *value)
{
	struct pkg_cond	c, c2, neg;
	struct wire_w	w;
	struct wire_r	r;
	char		err[1024], buf[PKG_COND_TEXT_MAX + 1], why[4096];
	int		ok;

	if (pkg_cond_parse("requires", text, &c, err, sizeof(err)) == -1)
		return;
	if (pkg_cond_format(&c, buf, sizeof(buf)) > PKG_COND_TEXT_MAX)
		fuzz_die("'%s' parsed to more than %d bytes of text", text,
		    PKG_COND_TEXT_MAX);
	if (pkg_cond_parse("requires", buf, &c2, err, sizeof(err)) == -1)
		fuzz_die("'%s' formats as '%s', which does not parse: %s",
		    text, buf, err);
	if (!pkg_cond_equal(&c, &c2))
		fuzz_die("'%s' formats as '%s', another condition", text, buf);
	pkg_cond_free(&c2);
	if (pkg_cond_check("requires", &c, err, sizeof(err)) == -1)
		fuzz_die("'%s' fails pkg_cond_check: %s", text, err);
	/* The manifest's tree form gives the same condition back. */
	memset(&w, 0, sizeof(w));
	wire_w_grow(&w, 256);
	pkg_cond_encode(&c, &w);
	wire_r_init(&r, w.buf, w.len);
	if (pkg_cond_decode(&r, &c2, err, sizeof(err)) == -1)
		fuzz_die("'%s' does not decode after encoding: %s", text, err);
	if (wire_r_left(&r) != 0 || !pkg_cond_equal(&c, &c2))
		fuzz_die("'%s' changes through the encoding", text);
	pkg_cond_free(&c2);
	wire_w_free(&w);
	ok = pkg_cond_eval(&c, lookup, value, why, sizeof(why));
	if (ok != 0 && ok != 1)
		fuzz_die("pkg_cond_eval returned %d", ok);
	if (ok != expect(&c, value))
		fuzz_die("'%s' evaluates to %d against '%s'", text, ok, value);
	if (!ok && strncmp(why, "requires '", 10) != 0)
		fuzz_die("'%s' fails without the reason: '%s'", text, why);
	if (c.op == PKG_COND_GE && pkg_cond_eval(&c, lookup, c.value, why,
	    sizeof(why)) != 1)
		fuzz_die("'%s' does not hold on a machine whose fact is "
		    "that version", text);
	/* not of it: the other answer (when not is still in the limits). */
	snprintf(buf, sizeof(buf), "not (%s)", text);
	if (strlen(text) < 1000 && pkg_cond_parse("requires", buf, &neg, err,
	    sizeof(err)) == 0) {
		if (pkg_cond_eval(&neg, lookup, value, why, sizeof(why)) == ok)
			fuzz_die("'%s' and its not agree", text);
		pkg_cond_free(&neg);
	}
	pkg_cond_free(&c);
}

/* Hostile manifest bytes: a condition decodes or is refused, no more. */
static void
check_decode(const uint8_t *data, size_t size)
{
	struct pkg_cond	c;
	struct wire_r	r;
	char		err[1024];

	wire_r_init(&r, data, size);
	if (pkg_cond_decode(&r, &c, err, sizeof(err)) == -1)
		return;
	(void)pkg_cond_check("requires", &c, err, sizeof(err));
	pkg_cond_free(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*a, *b;
	size_t	 alen;

	a = fuzz_str(data, size);
	alen = strlen(a);
	b = alen < size ? a + alen + 1 : a + alen;
	if (pkg_vercmp(a, a) != 0 || pkg_vercmp(b, b) != 0)
		fuzz_die("a version is not equal to itself");
	if (sign(pkg_vercmp(a, b)) != -sign(pkg_vercmp(b, a)))
		fuzz_die("pkg_vercmp is not antisymmetric");
	check_cond(a, b);
	check_decode(data, size);
	free(a);
	return (0);
}
