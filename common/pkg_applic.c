/*
 * Applicability (MISSION.md P9-P11): whether a signed package may be
 * applied to a machine, judged from the machine's facts and its installed
 * packages.  The agent asks before it joins a transfer; the server asks
 * before automatic update picks a package for a machine (server/auto.c),
 * so that both refuse the same packages with the same sentence.  The
 * checks run in a fixed order (OS, language, supersession, version,
 * conditions, base service pack) and the first one that fails gives the
 * reason: a machine that already has a newer package hears that, rather
 * than what the old one would have needed.  A package that an installed
 * one supersedes counts as there wherever it is asked for (base service
 * pack, pkg.ID conditions), since the superseding one replaced it.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pkg.h"

/*
 * An OS list entry names a distribution as os-release's ID does, alone
 * ("debian": any version) or with a version after '-', ' ' or ':'
 * ("debian-12", "ubuntu 22.04"); a version matches VERSION_ID exactly or
 * as a prefix up to a dot ("ubuntu-22" matches 22.04, not 220.1).
 */
int
pkg_applic_os_match(const char *entry, const char *id, const char *version)
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
pkg_applic_lang_match(const char *entry, const char *lang)
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
pkg_applic_join(const struct pkg_list *l, char *buf, size_t len)
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

static const struct pkg_installed *
pkg_applic_find(const struct pkg_installed *inst, size_t ninst, const char *id)
{
	size_t	i;

	for (i = 0; i < ninst; i++)
		if (strcmp(inst[i].id, id) == 0)
			return (&inst[i]);
	return (NULL);
}

/* The installed package that supersedes id, if any. */
const struct pkg_installed *
pkg_applic_superseder(const struct pkg_installed *inst, size_t ninst,
    const char *id)
{
	size_t	i, j;

	for (i = 0; i < ninst; i++) {
		if (inst[i].supersedes == NULL)
			continue;
		for (j = 0; j < inst[i].supersedes->n; j++)
			if (strcmp(inst[i].supersedes->v[j], id) == 0)
				return (&inst[i]);
	}
	return (NULL);
}

/* The machine as the conditions see it: its facts and what supersedes. */
struct pkg_applic_view {
	pkg_fact_fn			 lookup;
	void				*arg;
	const struct pkg_installed	*inst;
	size_t				 ninst;
};

static const char *
pkg_applic_lookup(void *arg, const char *fact)
{
	struct pkg_applic_view	*v = arg;
	const char		*val;

	if ((val = v->lookup(v->arg, fact)) != NULL)
		return (val);
	if (strncmp(fact, "pkg.", 4) == 0 &&
	    pkg_applic_superseder(v->inst, v->ninst, fact + 4) != NULL)
		return (pkg_fact_superseded);
	return (NULL);
}

/*
 * 1 when the package applies to the machine whose facts lookup answers
 * and whose installed packages are inst; 0 with the reason in why when it
 * does not.
 */
int
pkg_applic_check(const struct pkg_manifest *m, pkg_fact_fn lookup, void *arg,
    const struct pkg_installed *inst, size_t ninst, char *why, size_t whylen)
{
	const struct pkg_installed	*in;
	struct pkg_applic_view		 view = { lookup, arg, inst, ninst };
	const char			*id, *ver, *lang;
	char				 list[1024];
	size_t				 i;

	if (m->os.n > 0) {
		id = lookup(arg, "os.id");
		ver = lookup(arg, "os.version_id");
		for (i = 0; i < m->os.n; i++)
			if (pkg_applic_os_match(m->os.v[i], id, ver))
				break;
		if (i == m->os.n) {
			pkg_applic_join(&m->os, list, sizeof(list));
			snprintf(why, whylen, "os: this machine runs '%s%s%s', "
			    "the package supports only %s", id ? id : "unknown",
			    ver ? " " : "", ver ? ver : "", list);
			return (0);
		}
	}
	if (m->lang.n > 0) {
		lang = lookup(arg, "lang");
		for (i = 0; i < m->lang.n; i++)
			if (pkg_applic_lang_match(m->lang.v[i], lang))
				break;
		if (i == m->lang.n) {
			pkg_applic_join(&m->lang, list, sizeof(list));
			snprintf(why, whylen, "lang: this machine's language is "
			    "'%s', the package supports only %s",
			    lang ? lang : "unknown", list);
			return (0);
		}
	}
	if ((in = pkg_applic_superseder(inst, ninst, m->id)) != NULL) {
		snprintf(why, whylen, "supersedes: the installed package '%s' "
		    "supersedes '%s'", in->id, m->id);
		return (0);
	}
	if ((in = pkg_applic_find(inst, ninst, m->id)) != NULL &&
	    m->has_version && in->has_version && (m->major < in->major ||
	    (m->major == in->major && m->minor < in->minor))) {
		snprintf(why, whylen, "version: '%s' %u.%u is lower than the "
		    "installed %u.%u; versions only go up", m->id, m->major,
		    m->minor, in->major, in->minor);
		return (0);
	}
	if (!pkg_requires_eval(m, pkg_applic_lookup, &view, why, whylen))
		return (0);
	if (m->base_sp[0] != '\0' &&
	    pkg_applic_find(inst, ninst, m->base_sp) == NULL &&
	    pkg_applic_superseder(inst, ninst, m->base_sp) == NULL) {
		snprintf(why, whylen, "base_sp: '%s' needs service pack '%s' (or "
		    "one that supersedes it) installed first", m->id, m->base_sp);
		return (0);
	}
	return (1);
}
