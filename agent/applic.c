/*
 * Applicability on the agent (MISSION.md P9-P11): whether a signed package
 * may be applied to this machine, decided before the agent joins a
 * transfer so that a machine that would not use the bytes does not wait
 * for them.  The checks themselves (OS, language, supersession, version,
 * conditions, base service pack) are common/pkg_applic.c's, which the
 * server's automatic update runs too, so both give the same reason; this
 * file hands them the agent's facts and installed packages, and adds the
 * one check only the agent can make, the high-water mark.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "xmalloc.h"

/*
 * 1 when the package applies to this machine; 0 with the reason in why
 * when it does not.
 */
int
applic_check(const struct pkg_manifest *m, const struct facts *f,
    const struct installed *inst, size_t ninst, char *why, size_t whylen)
{
	struct pkg_installed	*v;
	size_t			 i;
	int			 ok;

	v = xcalloc(ninst + 1, sizeof(*v));
	for (i = 0; i < ninst; i++) {
		v[i].id = inst[i].id;
		v[i].has_version = inst[i].has_version;
		v[i].major = inst[i].major;
		v[i].minor = inst[i].minor;
		v[i].supersedes = &inst[i].supersedes;
	}
	ok = pkg_applic_check(m, facts_lookup, (void *)f, v, ninst, why,
	    whylen);
	free(v);
	return (ok);
}

/*
 * Anti-rollback against the package's high-water mark (mark NULL: it never
 * ran here).  1 when m may run; 0 with the reason in why.  Below the mark
 * is refused, and so is a manifest without a version once a versioned
 * one ran: either would put an older package back, even one that was
 * superseded or never installed.  The same version again only when the
 * package says it is idempotent (package build --idempotent); packages
 * that never carried a version have no order, and may run again.
 */
int
applic_mark_check(const struct pkg_manifest *m, const struct pkg_mark *mark,
    char *why, size_t whylen)
{
	if (mark == NULL || !mark->has_version)
		return (1);
	if (!m->has_version) {
		snprintf(why, whylen, "version: '%s' carries no version, but "
		    "version %u.%u of it has run here; versions only go up "
		    "(anti-rollback)", m->id, mark->major, mark->minor);
		return (0);
	}
	if (m->major < mark->major ||
	    (m->major == mark->major && m->minor < mark->minor)) {
		snprintf(why, whylen, "version: '%s' %u.%u is lower than "
		    "%u.%u, which has run here; versions only go up "
		    "(anti-rollback)", m->id, m->major, m->minor, mark->major,
		    mark->minor);
		return (0);
	}
	if (m->major == mark->major && m->minor == mark->minor &&
	    !(m->flags & PKG_F_IDEMPOTENT)) {
		snprintf(why, whylen, "version: '%s' %u.%u has run here "
		    "already; only a package built with --idempotent runs "
		    "again at the same version", m->id, m->major, m->minor);
		return (0);
	}
	return (1);
}
