/*
 * Facts: what the agent reports about its machine and what package
 * conditions (MISSION.md P10) are evaluated against.  The built-in facts
 * come from /etc/os-release (os.*), uname (kernel, arch), the system
 * locale (lang) and the installed fleetcast packages (pkg.ID, added by the
 * caller); an optional facts_command adds key=value lines of its own but
 * never overrides a built-in fact, so a script cannot pretend the machine
 * runs another OS.  The list is kept sorted so that two collections
 * compare cheaply and the server sees a stable order.  facts_refresh
 * collects them again (at start-up, on SIGHUP, every few minutes and
 * after a package is installed) and tells its owner through a callback
 * once the facts_command, if any, has ended.
 */
#include <sys/utsname.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "xmalloc.h"

void
facts_init(struct facts *f)
{
	f->v = NULL;
	f->n = 0;
}

void
facts_free(struct facts *f)
{
	size_t	i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].key);
		free(f->v[i].value);
	}
	free(f->v);
	facts_init(f);
}

/* A fact name as package conditions accept it. */
int
facts_check_key(const char *k)
{
	size_t	n;

	for (n = 0; k[n] != '\0'; n++) {
		if (!isalnum((unsigned char)k[n]) && k[n] != '_' &&
		    k[n] != '.' && k[n] != '-')
			return (-1);
	}
	return (n >= 1 && n <= FACTS_KEY_MAX ? 0 : -1);
}

/* Binary search; *at is where the key is or would be inserted. */
static int
facts_find(const struct facts *f, const char *key, size_t *at)
{
	size_t	lo = 0, hi = f->n, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(key, f->v[mid].key);
		if (c == 0) {
			*at = mid;
			return (1);
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*at = lo;
	return (0);
}

/*
 * Add or replace a fact.  -1 when the key breaks the naming rule, the
 * value is too long or holds a control character, or the list is full.
 */
int
facts_set(struct facts *f, const char *key, const char *value)
{
	size_t	at, i;

	if (facts_check_key(key) == -1 || strlen(value) > FACTS_VALUE_MAX)
		return (-1);
	for (i = 0; value[i] != '\0'; i++)
		if (iscntrl((unsigned char)value[i]))
			return (-1);
	if (facts_find(f, key, &at)) {
		free(f->v[at].value);
		f->v[at].value = xstrdup(value);
		return (0);
	}
	if (f->n >= FACTS_MAX)
		return (-1);
	f->v = xreallocarray(f->v, f->n + 1, sizeof(*f->v));
	memmove(&f->v[at + 1], &f->v[at], (f->n - at) * sizeof(*f->v));
	f->v[at].key = xstrdup(key);
	f->v[at].value = xstrdup(value);
	f->n++;
	return (0);
}

const char *
facts_get(const struct facts *f, const char *key)
{
	size_t	at;

	if (facts_find(f, key, &at))
		return (f->v[at].value);
	return (NULL);
}

/* The adapter that lets pkg_requires_eval look facts up. */
const char *
facts_lookup(void *arg, const char *key)
{
	return (facts_get(arg, key));
}

int
facts_equal(const struct facts *a, const struct facts *b)
{
	size_t	i;

	if (a->n != b->n)
		return (0);
	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].key, b->v[i].key) != 0 ||
		    strcmp(a->v[i].value, b->v[i].value) != 0)
			return (0);
	}
	return (1);
}

void
facts_copy(struct facts *dst, const struct facts *src)
{
	size_t	i;

	facts_free(dst);
	if (src->n == 0)
		return;
	dst->v = xcalloc(src->n, sizeof(*dst->v));
	for (i = 0; i < src->n; i++) {
		dst->v[i].key = xstrdup(src->v[i].key);
		dst->v[i].value = xstrdup(src->v[i].value);
	}
	dst->n = src->n;
}

/*
 * Undo the shell-like quoting of os-release and locale files: a value is
 * bare, or in double quotes (with backslash escapes), or in single quotes.
 * The result is written over the input.
 */
static char *
facts_unquote(char *v)
{
	char	*r, *w, q;
	size_t	 n;

	n = strlen(v);
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		v[--n] = '\0';
	if (v[0] != '"' && v[0] != '\'')
		return (v);
	q = v[0];
	for (r = v + 1, w = v; *r != '\0' && *r != q; r++) {
		if (q == '"' && *r == '\\' && r[1] != '\0')
			r++;
		*w++ = *r;
	}
	*w = '\0';
	return (v);
}

/* Read `KEY=value' lines, calling fn for each; -1 if the file is missing. */
static int
facts_read_vars(const char *path, void (*fn)(void *, const char *, char *),
    void *arg)
{
	FILE	*fp;
	char	 line[1024], *p, *eq;

	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (*p == '#' || (eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		fn(arg, p, facts_unquote(eq + 1));
	}
	fclose(fp);
	return (0);
}

static void
facts_os_var(void *arg, const char *key, char *value)
{
	static const struct {
		const char	*var;
		const char	*fact;
	} map[] = {
		{ "ID", "os.id" },
		{ "VERSION_ID", "os.version_id" },
		{ "PRETTY_NAME", "os.name" },
		{ "ID_LIKE", "os.id_like" },
		{ "VERSION_CODENAME", "os.codename" },
	};
	size_t	i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(key, map[i].var) == 0 && *value != '\0' &&
		    facts_set(arg, map[i].fact, value) == -1)
			log_warnx("os-release: %s: value not usable as a fact",
			    key);
	}
}

/* The os.* facts from an os-release file; -1 if it cannot be read. */
int
facts_os_release(struct facts *f, const char *path)
{
	return (facts_read_vars(path, facts_os_var, f));
}

static void
facts_lang_var(void *arg, const char *key, char *value)
{
	char	**lang = arg;

	/* LC_ALL overrides LANG, as it does for programs. */
	if (*value == '\0')
		return;
	if (strcmp(key, "LC_ALL") == 0 ||
	    (strcmp(key, "LANG") == 0 && *lang == NULL)) {
		free(*lang);
		*lang = xstrdup(value);
	}
}

/*
 * The machine's language: the system locale as Debian (/etc/default/locale)
 * or systemd (/etc/locale.conf) records it under root, else the agent's own
 * LANG, else "C".  The value is the locale name as written, e.g.
 * "en_US.UTF-8"; applic matches language lists against it.
 */
int
facts_locale(struct facts *f, const char *root)
{
	static const char	*files[] = { "/etc/default/locale",
	    "/etc/locale.conf" };
	char			*path, *lang = NULL;
	const char		*env;
	size_t			 i;
	int			 rv;

	for (i = 0; i < sizeof(files) / sizeof(files[0]) && lang == NULL;
	    i++) {
		xasprintf(&path, "%s%s", root, files[i]);
		(void)facts_read_vars(path, facts_lang_var, &lang);
		free(path);
	}
	if (lang == NULL && (env = getenv("LANG")) != NULL && *env != '\0')
		lang = xstrdup(env);
	rv = facts_set(f, "lang", lang != NULL ? lang : "C");
	free(lang);
	return (rv);
}

/* Every built-in fact except the installed packages. */
void
facts_system(struct facts *f, const char *root)
{
	struct utsname	 u;
	char		*path;

	xasprintf(&path, "%s/etc/os-release", root);
	if (facts_os_release(f, path) == -1) {
		free(path);
		xasprintf(&path, "%s/usr/lib/os-release", root);
		if (facts_os_release(f, path) == -1)
			log_warnx("no os-release file under '%s/': the os.* "
			    "facts are missing", root);
	}
	free(path);
	if (uname(&u) == 0) {
		(void)facts_set(f, "kernel", u.release);
		(void)facts_set(f, "arch", u.machine);
	} else
		log_warn("uname");
	(void)facts_locale(f, root);
	(void)facts_set(f, "agent.version", AGENT_VERSION);
}

/*
 * Add the key=value lines of a facts_command's output.  Blank lines and
 * # comments are skipped; a line with a bad key, a too-long value or one
 * that names a fact already present is skipped and logged.  Returns the
 * number of facts added.
 */
size_t
facts_parse(struct facts *f, const char *buf, size_t len, const char *source)
{
	const char	*p = buf, *end = buf + len, *nl;
	char		*line, *key, *val, *eq;
	size_t		 added = 0, lineno = 0;

	for (; p < end; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		line = xstrndup(p, nl - p);
		line[strcspn(line, "\r")] = '\0';
		for (key = line; isspace((unsigned char)*key); key++)
			;
		if (*key == '\0' || *key == '#')
			goto next;
		if ((eq = strchr(key, '=')) == NULL) {
			log_warnx("%s: line %zu: expected key=value", source,
			    lineno);
			goto next;
		}
		*eq = '\0';
		val = eq + 1;
		while (eq > key && isspace((unsigned char)eq[-1]))
			*--eq = '\0';
		while (isspace((unsigned char)*val))
			val++;
		for (eq = val + strlen(val); eq > val &&
		    isspace((unsigned char)eq[-1]); )
			*--eq = '\0';
		if (facts_get(f, key) != NULL) {
			log_warnx("%s: line %zu: fact '%s' is already set, "
			    "ignored", source, lineno, key);
			goto next;
		}
		if (facts_set(f, key, val) == -1) {
			log_warnx("%s: line %zu: '%s' is not a usable fact (key "
			    "1-%d bytes of A-Z a-z 0-9 _ . -, value at most %d "
			    "bytes, at most %d facts)", source, lineno, key,
			    FACTS_KEY_MAX, FACTS_VALUE_MAX, FACTS_MAX);
			goto next;
		}
		added++;
next:
		free(line);
	}
	return (added);
}

/* Collection: built-in facts now, the facts_command's when it has ended. */

static void
facts_collected(struct facts_collect *fc, struct facts *f)
{
	if (!facts_equal(f, fc->facts)) {
		facts_free(fc->facts);
		*fc->facts = *f;
		*fc->dirty = 1;
		log_debug("facts: %zu facts, changed", fc->facts->n);
	} else
		facts_free(f);
	fc->done(fc->arg);
}

static void
facts_builtin(struct facts_collect *fc, struct facts *f)
{
	struct installed	*inst;
	size_t			 ninst, i;
	char			 key[FACTS_KEY_MAX + 1], val[16], err[512];

	facts_system(f, "");
	if (state_installed_list(fc->state, &inst, &ninst, err,
	    sizeof(err)) == -1) {
		log_warnx("facts: %s", err);
		return;
	}
	for (i = 0; i < ninst; i++) {
		snprintf(key, sizeof(key), "pkg.%s", inst[i].id);
		if (inst[i].has_version)
			snprintf(val, sizeof(val), "%u.%u", inst[i].major,
			    inst[i].minor);
		else
			snprintf(val, sizeof(val), "0");
		if (facts_set(f, key, val) == -1)
			log_warnx("facts: no room for %s", key);
	}
	state_installed_free(inst, ninst);
}

/* What a command's job carries back: the collector and the new facts. */
struct facts_run {
	struct facts_collect	*fc;
	struct facts		 f;
};

static void
facts_command_done(const struct exec_result *res, void *arg)
{
	struct facts_run	*fr = arg;
	char			 how[128];

	fr->fc->job = NULL;
	if (res->how != EXEC_EXITED || res->exit_status != 0) {
		exec_describe(res, FACTS_TIMEOUT, how, sizeof(how));
		log_warnx("facts_command: %s; its facts are left out", how);
	} else if (res->outbytes > res->taillen)
		log_warnx("facts_command: printed %llu bytes, only the last %d "
		    "are read", (unsigned long long)res->outbytes,
		    EXEC_TAIL_MAX);
	if (res->how == EXEC_EXITED && res->exit_status == 0)
		(void)facts_parse(&fr->f, res->tail, res->taillen,
		    "facts_command");
	facts_collected(fr->fc, &fr->f);
	free(fr);
}

/* Collect the facts again; a change is sent with the next heartbeat. */
void
facts_refresh(struct facts_collect *fc)
{
	struct facts_run	*fr;
	char			**argv, err[512];

	if (fc->job != NULL)
		return;		/* a collection is under way */
	fr = xcalloc(1, sizeof(*fr));
	fr->fc = fc;
	facts_init(&fr->f);
	facts_builtin(fc, &fr->f);
	if (fc->command == NULL) {
		facts_collected(fc, &fr->f);
		free(fr);
		return;
	}
	/* Checked at start-up, so splitting cannot fail here. */
	if ((argv = exec_split(fc->command, err, sizeof(err))) == NULL)
		fatalx("facts_command: %s", err);
	fc->job = exec_command(argv, FACTS_TIMEOUT, facts_command_done, fr,
	    err, sizeof(err));
	exec_free_argv(argv);
	if (fc->job == NULL) {
		log_warnx("facts_command: %s; its facts are left out", err);
		facts_collected(fc, &fr->f);
		free(fr);
	}
}
