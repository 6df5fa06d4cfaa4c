/*
 * Fuzz target for package dependency conditions and version order
 * (common/pkg_cond.c), which an agent evaluates on a signed manifest's
 * "requires" and the CLI parses from --requires.  The input is split at
 * its first NUL: the first part is parsed as a condition, which must
 * format back to text that parses to the same condition, and it is
 * evaluated against a machine whose facts all have the second part as
 * their value.  Both parts, and each against itself, go through
 * pkg_vercmp, which must be an order: reflexive and antisymmetric.
 */
#include "pkg.h"

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

static void
check_cond(const char *text, char *value)
{
	struct pkg_cond	c, c2;
	char		err[1024], buf[1024], why[1024];
	int		ok;

	if (pkg_cond_parse("requires", text, &c, err, sizeof(err)) == -1)
		return;
	pkg_cond_format(&c, buf, sizeof(buf));
	if (pkg_cond_parse("requires", buf, &c2, err, sizeof(err)) == -1)
		fuzz_die("'%s' formats as '%s', which does not parse: %s",
		    text, buf, err);
	if (c2.op != c.op || strcmp(c2.fact, c.fact) != 0 ||
	    (c.value == NULL) != (c2.value == NULL) ||
	    (c.value != NULL && strcmp(c.value, c2.value) != 0))
		fuzz_die("'%s' formats as '%s', another condition", text, buf);
	ok = pkg_cond_eval(&c, lookup, value, why, sizeof(why));
	if (ok != 0 && ok != 1)
		fuzz_die("pkg_cond_eval returned %d", ok);
	if (c.op == PKG_COND_EXISTS && !ok)
		fuzz_die("'%s' does not hold on a machine with every fact",
		    text);
	if (c.op == PKG_COND_GE && pkg_cond_eval(&c, lookup, c.value, why,
	    sizeof(why)) != 1)
		fuzz_die("'%s' does not hold on a machine whose fact is "
		    "that version", text);
	pkg_cond_free(&c);
	pkg_cond_free(&c2);
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
	free(a);
	return (0);
}
