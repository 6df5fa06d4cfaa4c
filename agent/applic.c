/*
 * Applicability (MISSION.md P9-P11): whether a signed package may be
 * applied to this machine, decided before the agent joins a transfer so
 * that a machine that would not use the bytes does not wait for them.
 * The checks run in a fixed order (OS, language, supersession, version,
 * conditions, base service pack) and the first one that fails gives the
 * one sentence the server shows as the machine's error: a machine that
 * already has a newer package hears that, rather than what the old one
 * would have needed.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent.h"

/*
 * An OS list entry names a distribution as os-release's ID does, alone
 * ("debian": any version) or with a version after '-', ' ' or ':'
 * ("debian-12", "ubuntu 22.04"); a version matches VERSION_ID exactly or
 * as a prefix up to a dot ("ubuntu-22" matches 22.04, not 220.1).
 */
int
applic_os_match(const char *entry, const char *id, const char *version)
{
	size_t		 n;
	const char	*v;

	if (id == NULL)
		return (0);
	n = strlen(id);
	if (strncasecmp(entry, id, n) != 0)
		return (0);
	if (entry[n] == '\0')
		return (1);
	if (entry[n] != '-' && entry[n] != ' ' && entry[n] != ':')
		return (0);
	v = entry + n + 1;
	if (version == NULL || *v == '\0')
		return (0);
	n = strlen(v);
	if (strncasecmp(version, v, n) != 0)
		return (0);
	return (version[n] == '\0' || version[n] == '.');
}

/*
 * A language list entry is a locale name without its encoding: a language
 * ("en", "ja") or a language and territory ("en_US"); case does not
 * matter.  The machine's "lang" fact ("en_US.UTF-8") matches an entry
 * that equals its language_TERRITORY part or its language part.
 */
int
applic_lang_match(const char *entry, const char *lang)
{
	size_t	n, lan;

	if (lang == NULL)
		return (0);
	n = strcspn(lang, ".@");
	lan = strcspn(lang, "_.@");
	if (strlen(entry) == n && strncasecmp(entry, lang, n) == 0)
		return (1);
	if (strlen(entry) == lan && strncasecmp(entry, lang, lan) == 0)
		return (1);
	/* C.UTF-8 and POSIX are both the C locale. */
	if (strcasecmp(entry, "C") == 0 && strcasecmp(lang, "POSIX") == 0)
		return (1);
	return (0);
}

static void
applic_join(const struct pkg_list *l, char *buf, size_t len)
{
	size_t	i, off = 0;
	int	w;

	buf[0] = '\0';
	for (i = 0; i < l->n && off < len; i++) {
		w = snprintf(buf + off, len - off, "%s'%s'", i ? ", " : "",
		    l->v[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static const struct installed *
applic_find(const struct installed *inst, size_t ninst, const char *id)
{
	size_t	i;

	for (i = 0; i < ninst; i++)
		if (strcmp(inst[i].id, id) == 0)
			return (&inst[i]);
	return (NULL);
}

/* The installed package that supersedes id, if any. */
static const struct installed *
applic_superseder(const struct installed *inst, size_t ninst, const char *id)
{
	size_t	i, j;

	for (i = 0; i < ninst; i++)
		for (j = 0; j < inst[i].supersedes.n; j++)
			if (strcmp(inst[i].supersedes.v[j], id) == 0)
				return (&inst[i]);
	return (NULL);
}

/*
 * 1 when the package applies to this machine; 0 with the reason in why
 * when it does not.
 */
int
applic_check(const struct pkg_manifest *m, const struct facts *f,
    const struct installed *inst, size_t ninst, char *why, size_t whylen)
{
	const struct installed	*in;
	const char		*id, *ver, *lang;
	char			 list[1024];
	size_t			 i;

	if (m->os.n > 0) {
		id = facts_get(f, "os.id");
		ver = facts_get(f, "os.version_id");
		for (i = 0; i < m->os.n; i++)
			if (applic_os_match(m->os.v[i], id, ver))
				break;
		if (i == m->os.n) {
			applic_join(&m->os, list, sizeof(list));
			snprintf(why, whylen, "os: this machine runs '%s%s%s', "
			    "the package supports only %s", id ? id : "unknown",
			    ver ? " " : "", ver ? ver : "", list);
			return (0);
		}
	}
	if (m->lang.n > 0) {
		lang = facts_get(f, "lang");
		for (i = 0; i < m->lang.n; i++)
			if (applic_lang_match(m->lang.v[i], lang))
				break;
		if (i == m->lang.n) {
			applic_join(&m->lang, list, sizeof(list));
			snprintf(why, whylen, "lang: this machine's language is "
			    "'%s', the package supports only %s",
			    lang ? lang : "unknown", list);
			return (0);
		}
	}
	if ((in = applic_superseder(inst, ninst, m->id)) != NULL) {
		snprintf(why, whylen, "supersedes: the installed package '%s' "
		    "supersedes '%s'", in->id, m->id);
		return (0);
	}
	if ((in = applic_find(inst, ninst, m->id)) != NULL && m->has_version &&
	    in->has_version && (m->major < in->major ||
	    (m->major == in->major && m->minor < in->minor))) {
		snprintf(why, whylen, "version: '%s' %u.%u is lower than the "
		    "installed %u.%u; versions only go up", m->id, m->major,
		    m->minor, in->major, in->minor);
		return (0);
	}
	if (!pkg_requires_eval(m, facts_lookup, (void *)f, why, whylen))
		return (0);
	if (m->base_sp[0] != '\0' &&
	    applic_find(inst, ninst, m->base_sp) == NULL &&
	    applic_superseder(inst, ninst, m->base_sp) == NULL) {
		snprintf(why, whylen, "base_sp: '%s' needs service pack '%s' (or "
		    "one that supersedes it) installed first", m->id, m->base_sp);
		return (0);
	}
	return (1);
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
