/*
 * The simulator's input: the scenario and fleet files, checked and parsed
 * into struct sim_scenario and struct sim_fleet (every error names the
 * file, the JSON path and the rule), and the seeded PRNG that draws each
 * machine's ready time from the distribution its fleet entry gives.  It
 * knows nothing of the engine (sim.c), which draws through sim_draw().
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "sched.h"
#include "sim_input.h"
#include "xmalloc.h"

#define SIM_MAX_SECONDS		1e9		/* about 31 years */
#define SIM_MAX_BYTES		(1ULL << 50)
#define SIM_MAX_RATE		1000000000000ULL
#define SIM_NAME_MAX		255
#define SIM_DEFAULT_RANGE	"239.192.56.0/24"

/*
 * The PRNG: xoshiro256** seeded through splitmix64, so that a seed gives
 * the same draws everywhere, whatever the libc.
 */
uint64_t
sim_splitmix(uint64_t *x)
{
	uint64_t	z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static uint64_t
sim_rotl(uint64_t x, int k)
{
	return ((x << k) | (x >> (64 - k)));
}

static uint64_t
sim_rand(uint64_t s[4])
{
	uint64_t	r = sim_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sim_rotl(s[3], 45);
	return (r);
}

/* A double in [0, 1) with 53 random bits. */
static double
sim_unit(uint64_t s[4])
{
	return ((double)(sim_rand(s) >> 11) * 0x1.0p-53);
}

/*
 * Draw a ready delay in ms, or SCHED_NEVER.  Draws are rounded to the
 * millisecond, the clock's unit, which also hides any last-bit difference
 * between libm implementations of log().
 */
uint64_t
sim_draw(uint64_t s[4], const struct sim_ready *r)
{
	double	v;

	switch (r->dist) {
	case SIM_DIST_FIXED:
		return (r->a);
	case SIM_DIST_UNIFORM:
		v = (double)r->a + sim_unit(s) * (double)(r->b - r->a);
		break;
	case SIM_DIST_EXPONENTIAL:
		v = -(double)r->a * log(1.0 - sim_unit(s));
		break;
	case SIM_DIST_NEVER:
	default:
		return (SCHED_NEVER);
	}
	if (v > SIM_MAX_SECONDS * 1000.0)
		v = SIM_MAX_SECONDS * 1000.0;
	return ((uint64_t)llround(v));
}

/*
 * Input files.  Every error names the file, the JSON path and the rule, for
 * example `fleet.json: groups[2].ready.dist: "gauss" is not one of
 * fixed|uniform|exponential|never'.
 */
struct sim_jctx {
	const char	*file;
	char		*err;
	size_t		 errlen;
};

static int __attribute__((format(printf, 3, 4)))
sim_jerr(struct sim_jctx *c, const char *path, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path != NULL && *path != '\0')
		snprintf(c->err, c->errlen, "%s: %s: %s", c->file, path, msg);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->file, msg);
	return (-1);
}

/* A short text form of a JSON value for error messages. */
static const char *
sim_jshow(const json_t *v, char *buf, size_t len)
{
	char	*s;

	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (s == NULL) {
		snprintf(buf, len, "?");
		return (buf);
	}
	if (strlen(s) > 40)
		snprintf(buf, len, "%.37s...", s);
	else
		snprintf(buf, len, "%s", s);
	free(s);
	return (buf);
}

static const char *
sim_jpath(char *buf, size_t len, const char *prefix, const char *key)
{
	int	n;

	/* A path too long for the buffer is cut: it only goes in messages. */
	n = snprintf(buf, len, "%s%s%s", prefix, *prefix != '\0' ? "." : "",
	    key);
	if (n < 0)
		buf[0] = '\0';
	return (buf);
}

/* "a, b, c" from a NULL-terminated list, cut to fit. */
static void
sim_join(char *buf, size_t len, const char *const *words, const char *sep)
{
	size_t	i, off = 0;
	int	n;

	buf[0] = '\0';
	for (i = 0; words[i] != NULL && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i > 0 ? sep : "",
		    words[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static int
sim_jkeys(struct sim_jctx *c, json_t *obj, const char *prefix,
    const char *const *known)
{
	const char	*key;
	json_t		*v;
	char		 p[256], list[512];
	size_t		 i;

	json_object_foreach(obj, key, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] != NULL)
			continue;
		sim_join(list, sizeof(list), known, ", ");
		return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix, key),
		    "unknown key (known keys: %s)", list));
	}
	return (0);
}

/* Fetch a key; absent and null both mean "not set" (SPEC.md). */
static json_t *
sim_jget(json_t *obj, const char *key)
{
	json_t	*v = json_object_get(obj, key);

	return (json_is_null(v) ? NULL : v);
}

static int
sim_juint(struct sim_jctx *c, json_t *obj, const char *prefix, const char *key,
    uint64_t min, uint64_t max, uint64_t *out, int *set)
{
	json_t		*v;
	json_int_t	 i;
	char		 p[256], b[64];

	*set = 0;
	if ((v = sim_jget(obj, key)) == NULL)
		return (0);
	sim_jpath(p, sizeof(p), prefix, key);
	if (!json_is_integer(v))
		return (sim_jerr(c, p, "%s is not an integer",
		    sim_jshow(v, b, sizeof(b))));
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return (sim_jerr(c, p, "%" JSON_INTEGER_FORMAT " is out of "
		    "range %" PRIu64 "-%" PRIu64, i, min, max));
	*out = (uint64_t)i;
	*set = 1;
	return (0);
}

/* Seconds, integer or fraction, to whole ms. */
static int
sim_jsecs(struct sim_jctx *c, json_t *obj, const char *prefix, const char *key,
    int positive, uint64_t *ms, int *set)
{
	json_t	*v;
	double	 d;
	char	 p[256], b[64];

	*set = 0;
	if ((v = sim_jget(obj, key)) == NULL)
		return (0);
	sim_jpath(p, sizeof(p), prefix, key);
	if (!json_is_number(v))
		return (sim_jerr(c, p, "%s is not a number of seconds",
		    sim_jshow(v, b, sizeof(b))));
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || d > SIM_MAX_SECONDS ||
	    (positive && d <= 0))
		return (sim_jerr(c, p, "%s seconds is out of range %s-1e9",
		    sim_jshow(v, b, sizeof(b)), positive ? "0 (excluded)" :
		    "0"));
	*ms = (uint64_t)llround(d * 1000.0);
	if (positive && *ms == 0)
		return (sim_jerr(c, p, "%s seconds rounds to 0 ms",
		    sim_jshow(v, b, sizeof(b))));
	*set = 1;
	return (0);
}

static int
sim_jbool(struct sim_jctx *c, json_t *obj, const char *prefix, const char *key,
    int *out)
{
	json_t	*v;
	char	 p[256], b[64];

	*out = 0;
	if ((v = sim_jget(obj, key)) == NULL)
		return (0);
	if (!json_is_boolean(v))
		return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix, key),
		    "%s is not true or false", sim_jshow(v, b, sizeof(b))));
	*out = json_is_true(v);
	return (0);
}

static int
sim_jstr(struct sim_jctx *c, json_t *obj, const char *prefix, const char *key,
    const char **out)
{
	json_t	*v;
	char	 p[256], b[64];

	*out = NULL;
	if ((v = sim_jget(obj, key)) == NULL)
		return (0);
	if (!json_is_string(v))
		return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix, key),
		    "%s is not a string", sim_jshow(v, b, sizeof(b))));
	*out = json_string_value(v);
	return (0);
}

static int
sim_jenum(struct sim_jctx *c, json_t *obj, const char *prefix, const char *key,
    const char *const *choices, int *out)
{
	const char	*s;
	char		 p[256], list[128];
	size_t		 i;

	if (sim_jstr(c, obj, prefix, key, &s) == -1)
		return (-1);
	if (s == NULL)
		return (0);
	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(s, choices[i]) == 0) {
			*out = (int)i;
			return (0);
		}
	}
	sim_join(list, sizeof(list), choices, "|");
	return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix, key),
	    "\"%s\" is not one of %s", s, list));
}

/*
 * Input files are read whole by jansson, so their size is capped: a fleet
 * of a million machines listed one by one fits well within it.
 */
#define SIM_MAX_FILE	(256ULL << 20)

static json_t *
sim_jparse(struct sim_jctx *c, const char *text, const char *path)
{
	json_t		*root;
	json_error_t	 je;
	struct stat	 st;
	FILE		*f;

	if (text != NULL)
		root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	else {
		if ((f = fopen(path, "r")) == NULL) {
			sim_jerr(c, NULL, "%s", strerror(errno));
			return (NULL);
		}
		if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
			sim_jerr(c, NULL, "not a regular file");
			fclose(f);
			return (NULL);
		}
		if ((unsigned long long)st.st_size > SIM_MAX_FILE) {
			sim_jerr(c, NULL, "%lld bytes, limit %llu",
			    (long long)st.st_size, SIM_MAX_FILE);
			fclose(f);
			return (NULL);
		}
		root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
		fclose(f);
	}
	if (root == NULL) {
		if (je.line <= 0)
			sim_jerr(c, NULL, "%s", je.text);
		else
			sim_jerr(c, NULL, "line %d, column %d: %s", je.line,
			    je.column, je.text);
		return (NULL);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		sim_jerr(c, NULL, "the top level must be a JSON object");
		return (NULL);
	}
	return (root);
}

static const char *const sim_scenario_keys[] = {
	"max_targets", "max_wait", "at_next_boot", "unicast",
	"max_concurrent_machines", "package_size",
	/* Extensions, doc/simulation.md. */
	"on_concurrency_limit", "poweroff_after", "reboot_after",
	"restart_at_start", "exec_time", "rate", "group", "group_range",
	"runs", "run_interval", "targets_per_run", "clear_errors",
	"description", NULL
};

static int
sim_scenario_json(struct sim_jctx *c, json_t *root, struct sim_scenario *sc)
{
	static const char *const limits[] = { "queue", "error", NULL };
	uint64_t	 u;
	int		 set, e;
	const char	*str;
	char		 gerr[256];

	memset(sc, 0, sizeof(*sc));
	sc->opts.max_wait = SCHED_NEVER;
	sc->runs = 1;
	if (sim_jkeys(c, root, "", sim_scenario_keys) == -1)
		return (-1);
	if (sim_juint(c, root, "", "max_targets", 1, SIM_MAX_MACHINES, &u,
	    &set) == -1)
		return (-1);
	if (set)
		sc->opts.max_targets = (uint32_t)u;
	if (sim_jsecs(c, root, "", "max_wait", 0, &u, &set) == -1)
		return (-1);
	if (set)
		sc->opts.max_wait = u;
	if (sim_jbool(c, root, "", "at_next_boot", &sc->opts.at_next_boot) ==
	    -1 || sim_jbool(c, root, "", "unicast", &sc->opts.unicast) == -1 ||
	    sim_jbool(c, root, "", "poweroff_after",
	    &sc->opts.poweroff_after) == -1 ||
	    sim_jbool(c, root, "", "reboot_after", &sc->opts.reboot_after) ==
	    -1 || sim_jbool(c, root, "", "restart_at_start",
	    &sc->restart_at_start) == -1 ||
	    sim_jbool(c, root, "", "clear_errors", &sc->clear_errors) == -1)
		return (-1);
	if (sim_juint(c, root, "", "max_concurrent_machines", 1,
	    SIM_MAX_MACHINES, &u, &set) == -1)
		return (-1);
	if (set)
		sc->max_concurrent_machines = (uint32_t)u;
	e = SCHED_LIMIT_QUEUE;
	if (sim_jenum(c, root, "", "on_concurrency_limit", limits, &e) == -1)
		return (-1);
	sc->on_concurrency_limit = e == 0 ? SCHED_LIMIT_QUEUE :
	    SCHED_LIMIT_ERROR;
	if (sim_juint(c, root, "", "package_size", 0, SIM_MAX_BYTES,
	    &sc->package_size, &set) == -1)
		return (-1);
	if (sim_juint(c, root, "", "rate", 1, SIM_MAX_RATE, &sc->rate,
	    &set) == -1)
		return (-1);
	if (sim_jsecs(c, root, "", "exec_time", 0, &sc->exec_time, &set) ==
	    -1)
		return (-1);
	if (sim_juint(c, root, "", "runs", 1, SIM_MAX_RUNS, &u, &set) == -1)
		return (-1);
	if (set)
		sc->runs = (uint32_t)u;
	if (sim_jsecs(c, root, "", "run_interval", 0, &sc->run_interval,
	    &set) == -1)
		return (-1);
	if (sim_juint(c, root, "", "targets_per_run", 1, SIM_MAX_MACHINES, &u,
	    &set) == -1)
		return (-1);
	if (set)
		sc->targets_per_run = (uint32_t)u;

	if (sim_jstr(c, root, "", "group_range", &str) == -1)
		return (-1);
	if (sched_group_parse_range(str != NULL ? str : SIM_DEFAULT_RANGE,
	    &sc->group_base, &sc->group_prefix, gerr, sizeof(gerr)) == -1)
		return (sim_jerr(c, NULL, "%s", gerr));
	if (sim_jstr(c, root, "", "group", &str) == -1)
		return (-1);
	if (str != NULL) {
		if (sched_group_parse(str, &sc->opts.group, &sc->opts.port,
		    gerr, sizeof(gerr)) == -1)
			return (sim_jerr(c, "group", "%s", gerr));
		if (sc->opts.unicast)
			return (sim_jerr(c, "group", "a unicast scenario uses "
			    "no multicast group (S8)"));
	}
	if (sim_jstr(c, root, "", "description", &str) == -1)
		return (-1);
	return (0);
}

int
sim_scenario_parse(const char *text, const char *label,
    struct sim_scenario *sc, char *err, size_t errlen)
{
	struct sim_jctx	 c = { label, err, errlen };
	json_t		*root;
	int		 rv;

	if ((root = sim_jparse(&c, text, label)) == NULL)
		return (-1);
	rv = sim_scenario_json(&c, root, sc);
	json_decref(root);
	return (rv);
}

int
sim_scenario_load(const char *path, struct sim_scenario *sc, char *err,
    size_t errlen)
{
	return (sim_scenario_parse(NULL, path, sc, err, errlen));
}

static int
sim_ready_json(struct sim_jctx *c, json_t *v, const char *prefix,
    struct sim_ready *r)
{
	static const char *const dists[] = { "fixed", "uniform",
	    "exponential", "never", NULL };
	static const char *const kfixed[] = { "dist", "at", NULL };
	static const char *const kuni[] = { "dist", "min", "max", NULL };
	static const char *const kexp[] = { "dist", "mean", NULL };
	static const char *const knever[] = { "dist", NULL };
	static const char *const *keys[] = { kfixed, kuni, kexp, knever };
	char	 p[256], b[64];
	int	 d = -1, set, set2;

	if (!json_is_object(v))
		return (sim_jerr(c, prefix, "%s is not an object like "
		    "{\"dist\":\"fixed\",\"at\":30}", sim_jshow(v, b,
		    sizeof(b))));
	if (sim_jenum(c, v, prefix, "dist", dists, &d) == -1)
		return (-1);
	if (d == -1)
		return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix, "dist"),
		    "missing (fixed|uniform|exponential|never)"));
	if (sim_jkeys(c, v, prefix, keys[d]) == -1)
		return (-1);
	memset(r, 0, sizeof(*r));
	r->dist = d;
	switch (r->dist) {
	case SIM_DIST_FIXED:
		if (sim_jsecs(c, v, prefix, "at", 0, &r->a, &set) == -1)
			return (-1);
		if (!set)
			return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix,
			    "at"), "missing (seconds from the run's start)"));
		break;
	case SIM_DIST_UNIFORM:
		if (sim_jsecs(c, v, prefix, "min", 0, &r->a, &set) == -1 ||
		    sim_jsecs(c, v, prefix, "max", 0, &r->b, &set2) == -1)
			return (-1);
		if (!set || !set2)
			return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix,
			    set ? "max" : "min"), "missing (seconds)"));
		if (r->a > r->b)
			return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix,
			    "min"), "%.3f is larger than max %.3f",
			    r->a / 1000.0, r->b / 1000.0));
		break;
	case SIM_DIST_EXPONENTIAL:
		if (sim_jsecs(c, v, prefix, "mean", 1, &r->a, &set) == -1)
			return (-1);
		if (!set)
			return (sim_jerr(c, sim_jpath(p, sizeof(p), prefix,
			    "mean"), "missing (seconds, more than 0)"));
		break;
	case SIM_DIST_NEVER:
		break;
	}
	return (0);
}

/* The keys a machine and a group share. */
static int
sim_machine_common(struct sim_jctx *c, json_t *obj, const char *prefix,
    struct sim_machine *m)
{
	static const char *const segs[] = { "local", "remote", NULL };
	json_t	*v, *e;
	char	 p[256], b[64];
	uint64_t u;
	size_t	 i;
	int	 set, seg = 0;

	if (sim_jenum(c, obj, prefix, "segment", segs, &seg) == -1)
		return (-1);
	m->remote = seg == 1;
	if (sim_juint(c, obj, prefix, "link_rate", 1, SIM_MAX_RATE,
	    &m->link_rate, &set) == -1)
		return (-1);
	if (!set)
		m->link_rate = SIM_DEFAULT_LINK_RATE;
	if (sim_jsecs(c, obj, prefix, "online_at", 0, &m->online_at, &set) ==
	    -1)
		return (-1);
	if (sim_jsecs(c, obj, prefix, "boot_time", 0, &m->boot_time, &set) ==
	    -1)
		return (-1);
	if (!set)
		m->boot_time = SIM_DEFAULT_BOOT_TIME;
	if (sim_jsecs(c, obj, prefix, "reboot_every", 1, &m->reboot_every,
	    &set) == -1)
		return (-1);
	if (sim_juint(c, obj, prefix, "pending", 0, CTL_PENDING_CAP, &u,
	    &set) == -1)
		return (-1);
	m->pending = set ? (uint32_t)u : 0;
	if ((v = sim_jget(obj, "reboot_at")) != NULL) {
		sim_jpath(p, sizeof(p), prefix, "reboot_at");
		if (!json_is_array(v))
			return (sim_jerr(c, p, "%s is not a list of seconds",
			    sim_jshow(v, b, sizeof(b))));
		if (json_array_size(v) > 100000)
			return (sim_jerr(c, p, "%zu entries, limit 100000",
			    json_array_size(v)));
		m->nreboot = json_array_size(v);
		m->reboot_at = xcalloc(m->nreboot + 1, sizeof(*m->reboot_at));
		json_array_foreach(v, i, e) {
			snprintf(p, sizeof(p), "%s%sreboot_at[%zu]", prefix,
			    *prefix != '\0' ? "." : "", i);
			if (!json_is_number(e) || json_number_value(e) < 0 ||
			    json_number_value(e) > SIM_MAX_SECONDS)
				return (sim_jerr(c, p, "%s is not a number of "
				    "seconds 0-1e9", sim_jshow(e, b,
				    sizeof(b))));
			m->reboot_at[i] = (uint64_t)llround(
			    json_number_value(e) * 1000.0);
			if (i > 0 && m->reboot_at[i] <= m->reboot_at[i - 1])
				return (sim_jerr(c, p, "%s is not after the "
				    "previous entry (the list must ascend)",
				    sim_jshow(e, b, sizeof(b))));
		}
	}
	return (0);
}

static int
sim_name_check(struct sim_jctx *c, const char *path, const char *name)
{
	size_t	i, len = strlen(name);

	if (len == 0 || len > SIM_NAME_MAX)
		return (sim_jerr(c, path, "%zu bytes, must be 1-%d", len,
		    SIM_NAME_MAX));
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return (sim_jerr(c, path, "control characters are not "
			    "allowed"));
	return (0);
}

/*
 * Machine names must be unique across machines and groups; a duplicate is
 * reported with where the first one came from.
 */
struct sim_names {
	uint32_t	*slot;		/* fleet index + 1, 0: empty */
	size_t		 size;
	size_t		 nmachines;	/* from machines[] */
	size_t		*gstart;	/* first fleet index of groups[g] */
	size_t		 ngroups;
};

uint64_t
sim_strhash(const char *s)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	while (*s != '\0') {
		h ^= (uint8_t)*s++;
		h *= 0x100000001b3ULL;
	}
	return (h);
}

static void
sim_names_where(const struct sim_names *nt, size_t j, char *buf, size_t len)
{
	size_t	g;

	if (j < nt->nmachines) {
		snprintf(buf, len, "machines[%zu]", j);
		return;
	}
	for (g = nt->ngroups; g > 0; g--)
		if (nt->gstart[g - 1] <= j)
			break;
	snprintf(buf, len, "groups[%zu]", g - 1);
}

/* Add a machine; the fleet owns m's allocations whatever happens. */
static int
sim_fleet_add(struct sim_jctx *c, struct sim_fleet *fl, struct sim_names *nt,
    struct sim_machine *m, const char *path, size_t *cap)
{
	size_t	 i, h;
	uint32_t j;
	char	 w[64];

	h = sim_strhash(m->name) & (nt->size - 1);
	for (i = 0; i < nt->size; i++, h = (h + 1) & (nt->size - 1)) {
		if (nt->slot[h] == 0)
			break;
		j = nt->slot[h] - 1;
		if (strcmp(fl->m[j].name, m->name) == 0) {
			sim_names_where(nt, j, w, sizeof(w));
			sim_jerr(c, path, "\"%s\" is already used by %s",
			    m->name, w);
			free(m->name);
			free(m->reboot_at);
			return (-1);
		}
	}
	if (fl->n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		fl->m = xreallocarray(fl->m, *cap, sizeof(*fl->m));
	}
	fl->m[fl->n] = *m;
	nt->slot[h] = (uint32_t)++fl->n;
	return (0);
}

static const char *const sim_machine_keys[] = {
	"name", "ready_at", "ready", "segment", "link_rate", "online_at",
	"boot_time", "reboot_at", "reboot_every", "pending", "description",
	NULL
};
static const char *const sim_group_keys[] = {
	"prefix", "count", "ready", "segment", "link_rate", "online_at",
	"boot_time", "reboot_at", "reboot_every", "pending", "description",
	NULL
};

static void
sim_machine_clear(struct sim_machine *m)
{
	free(m->name);
	free(m->reboot_at);
	memset(m, 0, sizeof(*m));
}

static int
sim_fleet_machine(struct sim_jctx *c, json_t *e, const char *p,
    struct sim_machine *m)
{
	const char	*s;
	char		 pn[256], b[64];
	json_t		*v;
	uint64_t	 u;
	int		 set;

	if (!json_is_object(e))
		return (sim_jerr(c, p, "%s is not an object",
		    sim_jshow(e, b, sizeof(b))));
	if (sim_jkeys(c, e, p, sim_machine_keys) == -1)
		return (-1);
	if (sim_jstr(c, e, p, "name", &s) == -1)
		return (-1);
	sim_jpath(pn, sizeof(pn), p, "name");
	if (s == NULL)
		return (sim_jerr(c, pn, "missing"));
	if (sim_name_check(c, pn, s) == -1)
		return (-1);
	m->name = xstrdup(s);
	v = json_object_get(e, "ready_at");
	if (v != NULL && json_object_get(e, "ready") != NULL)
		return (sim_jerr(c, p, "give ready_at or ready, not both"));
	if (v == NULL && json_object_get(e, "ready") == NULL)
		return (sim_jerr(c, sim_jpath(pn, sizeof(pn), p, "ready_at"),
		    "missing (seconds from the run's start, or null for "
		    "never)"));
	if (v != NULL) {
		if (json_is_null(v))
			m->ready.dist = SIM_DIST_NEVER;
		else {
			if (sim_jsecs(c, e, p, "ready_at", 0, &u, &set) == -1)
				return (-1);
			m->ready.dist = SIM_DIST_FIXED;
			m->ready.a = u;
		}
	} else if (sim_ready_json(c, json_object_get(e, "ready"),
	    sim_jpath(pn, sizeof(pn), p, "ready"), &m->ready) == -1)
		return (-1);
	if (sim_machine_common(c, e, p, m) == -1)
		return (-1);
	return (sim_jstr(c, e, p, "description", &s));
}

static int
sim_fleet_group(struct sim_jctx *c, json_t *e, const char *p,
    struct sim_machine *m, const char **prefix, uint64_t *count)
{
	const char	*s;
	char		 pn[256], b[64];
	json_t		*v;
	int		 set;

	if (!json_is_object(e))
		return (sim_jerr(c, p, "%s is not an object",
		    sim_jshow(e, b, sizeof(b))));
	if (sim_jkeys(c, e, p, sim_group_keys) == -1)
		return (-1);
	if (sim_jstr(c, e, p, "prefix", prefix) == -1)
		return (-1);
	sim_jpath(pn, sizeof(pn), p, "prefix");
	if (*prefix == NULL)
		return (sim_jerr(c, pn, "missing"));
	if (strlen(*prefix) > SIM_NAME_MAX - 7)
		return (sim_jerr(c, pn, "%zu bytes, limit %d",
		    strlen(*prefix), SIM_NAME_MAX - 7));
	if (sim_juint(c, e, p, "count", 1, SIM_MAX_MACHINES, count,
	    &set) == -1)
		return (-1);
	if (!set)
		return (sim_jerr(c, sim_jpath(pn, sizeof(pn), p, "count"),
		    "missing"));
	if ((v = json_object_get(e, "ready")) == NULL)
		return (sim_jerr(c, sim_jpath(pn, sizeof(pn), p, "ready"),
		    "missing ({\"dist\": \"fixed|uniform|exponential|never\","
		    " ...})"));
	if (sim_ready_json(c, v, sim_jpath(pn, sizeof(pn), p, "ready"),
	    &m->ready) == -1)
		return (-1);
	if (sim_machine_common(c, e, p, m) == -1)
		return (-1);
	return (sim_jstr(c, e, p, "description", &s));
}

static int
sim_fleet_json(struct sim_jctx *c, json_t *root, struct sim_fleet *fl)
{
	static const char *const top[] = { "machines", "groups",
	    "description", NULL };
	struct sim_names nt;
	struct sim_machine m, one;
	json_t		*ms, *gs, *e, *v;
	const char	*prefix;
	char		 p[256], b[64];
	size_t		 i, k, total, cap = 0, width;
	uint64_t	 count, u;
	int		 rv = -1;

	memset(fl, 0, sizeof(*fl));
	memset(&nt, 0, sizeof(nt));
	memset(&m, 0, sizeof(m));
	if (sim_jkeys(c, root, "", top) == -1)
		return (-1);
	ms = sim_jget(root, "machines");
	gs = sim_jget(root, "groups");
	if (ms != NULL && !json_is_array(ms))
		return (sim_jerr(c, "machines", "%s is not a list",
		    sim_jshow(ms, b, sizeof(b))));
	if (gs != NULL && !json_is_array(gs))
		return (sim_jerr(c, "groups", "%s is not a list",
		    sim_jshow(gs, b, sizeof(b))));

	/* Size the name table once, from the declared counts. */
	total = json_array_size(ms);
	json_array_foreach(gs, i, e) {
		v = json_is_object(e) ? json_object_get(e, "count") : NULL;
		if (json_is_integer(v) && json_integer_value(v) > 0 &&
		    json_integer_value(v) <= SIM_MAX_MACHINES)
			total += (size_t)json_integer_value(v);
	}
	if (total > SIM_MAX_MACHINES)
		return (sim_jerr(c, NULL, "%zu machines, limit %d", total,
		    SIM_MAX_MACHINES));
	for (nt.size = 16; nt.size < total * 2; nt.size *= 2)
		;
	nt.slot = xcalloc(nt.size, sizeof(*nt.slot));
	nt.nmachines = json_array_size(ms);
	nt.gstart = xcalloc(json_array_size(gs) + 1, sizeof(*nt.gstart));

	json_array_foreach(ms, i, e) {
		snprintf(p, sizeof(p), "machines[%zu]", i);
		memset(&m, 0, sizeof(m));
		if (sim_fleet_machine(c, e, p, &m) == -1)
			goto out;
		snprintf(p, sizeof(p), "machines[%zu].name", i);
		rv = sim_fleet_add(c, fl, &nt, &m, p, &cap);
		memset(&m, 0, sizeof(m));
		if (rv == -1)
			goto out;
		rv = -1;
	}
	json_array_foreach(gs, i, e) {
		snprintf(p, sizeof(p), "groups[%zu]", i);
		memset(&m, 0, sizeof(m));
		if (sim_fleet_group(c, e, p, &m, &prefix, &count) == -1)
			goto out;
		nt.gstart[nt.ngroups++] = fl->n;
		/* A prefix "lab-" with 50 machines: lab-01 ... lab-50. */
		for (width = 1, u = count; u >= 10; u /= 10)
			width++;
		for (k = 0; k < count; k++) {
			one = m;
			xasprintf(&one.name, "%s%0*zu", prefix, (int)width,
			    k + 1);
			if (m.nreboot > 0) {
				one.reboot_at = xcalloc(m.nreboot,
				    sizeof(*one.reboot_at));
				memcpy(one.reboot_at, m.reboot_at,
				    m.nreboot * sizeof(*m.reboot_at));
			}
			if (sim_fleet_add(c, fl, &nt, &one, p, &cap) == -1)
				goto out;
		}
		sim_machine_clear(&m);
	}
	if (fl->n == 0) {
		sim_jerr(c, NULL, "no machines (give machines or groups)");
		goto out;
	}
	rv = 0;
out:
	free(nt.slot);
	free(nt.gstart);
	sim_machine_clear(&m);
	if (rv == -1)
		sim_fleet_free(fl);
	return (rv);
}

int
sim_fleet_parse(const char *text, const char *label, struct sim_fleet *fl,
    char *err, size_t errlen)
{
	struct sim_jctx	 c = { label, err, errlen };
	json_t		*root;
	int		 rv;

	memset(fl, 0, sizeof(*fl));
	if ((root = sim_jparse(&c, text, label)) == NULL)
		return (-1);
	rv = sim_fleet_json(&c, root, fl);
	json_decref(root);
	return (rv);
}

int
sim_fleet_load(const char *path, struct sim_fleet *fl, char *err,
    size_t errlen)
{
	return (sim_fleet_parse(NULL, path, fl, err, errlen));
}

void
sim_fleet_free(struct sim_fleet *fl)
{
	size_t	i;

	for (i = 0; i < fl->n; i++)
		sim_machine_clear(&fl->m[i]);
	free(fl->m);
	fl->m = NULL;
	fl->n = 0;
}

/* Checks that need both files. */
int
sim_check(const struct sim_scenario *sc, const struct sim_fleet *fl,
    const char *label, char *err, size_t errlen)
{
	if (sc->targets_per_run > fl->n) {
		snprintf(err, errlen, "%s: targets_per_run: %" PRIu32 " is "
		    "more than the fleet's %zu machine%s", label,
		    sc->targets_per_run, fl->n, fl->n == 1 ? "" : "s");
		return (-1);
	}
	return (0);
}
