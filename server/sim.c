/*
 * The simulator: scenario and fleet files in, the server's scheduler run
 * against a virtual clock and virtual agents, a timeline, a summary, JSON
 * and an SVG plot out.  Virtual agents do what fleetcast-agent does and the
 * scheduler cannot see: they get ready after a drawn delay (or never), are
 * off until they boot, refuse a run while applying next-boot updates (S12)
 * or when 100 next-boot scenarios are pending (S13), stage next-boot
 * packages (S10), power off (S11) or restart (S14) when asked, and apply
 * what is pending when they restart.  Transfers take package_size over the
 * link rate; a multicast wave goes at its slowest member's rate.
 *
 * Memory grows with the fleet and with the runs in flight; the per-machine
 * records of finished runs are kept only when JSON or a plot is asked for,
 * otherwise only a 4-byte completion time per machine and run.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "sched.h"
#include "sim.h"
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
static uint64_t
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
static uint64_t
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
	char		 gerr[256], addr[64], *colon, *end;
	struct in_addr	 in;
	unsigned long	 port;

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
	if (sched_parse_group_range(str != NULL ? str : SIM_DEFAULT_RANGE,
	    &sc->group_base, &sc->group_prefix, gerr, sizeof(gerr)) == -1)
		return (sim_jerr(c, NULL, "%s", gerr));
	if (sim_jstr(c, root, "", "group", &str) == -1)
		return (-1);
	if (str != NULL) {
		if (strlen(str) >= sizeof(addr))
			return (sim_jerr(c, "group", "\"%s\" is too long",
			    str));
		snprintf(addr, sizeof(addr), "%s", str);
		port = 0;
		if ((colon = strchr(addr, ':')) != NULL) {
			*colon++ = '\0';
			errno = 0;
			port = strtoul(colon, &end, 10);
			if (*colon == '\0' || *end != '\0' || port < 1 ||
			    port > 65535)
				return (sim_jerr(c, "group", "\"%s\": port "
				    "must be 1-65535", str));
		}
		if (inet_pton(AF_INET, addr, &in) != 1 ||
		    (ntohl(in.s_addr) & 0xf0000000U) != 0xe0000000U)
			return (sim_jerr(c, "group", "\"%s\" is not an IPv4 "
			    "multicast address (224.0.0.0/4)", str));
		if (sc->opts.unicast)
			return (sim_jerr(c, "group", "a unicast scenario uses "
			    "no multicast group (S8)"));
		sc->opts.group = ntohl(in.s_addr);
		sc->opts.port = (uint16_t)port;
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

static uint64_t
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

/*
 * The engine.  Events are kept in a binary heap ordered by time, then by
 * the order they were pushed, so that the same input replays identically.
 */
enum sim_evtype {
	SIM_EV_RUN,		/* start run number n */
	SIM_EV_READY,		/* an agent would report ready */
	SIM_EV_WAVE_DONE,	/* a multicast wave has been received */
	SIM_EV_XFER_DONE,	/* one unicast transfer is complete */
	SIM_EV_EXEC_DONE,	/* a package finished running */
	SIM_EV_APPLY_DONE,	/* a next-boot package finished at boot */
	SIM_EV_XFER_FAIL,	/* the machine was down when its wave began */
	SIM_EV_REBOOT,		/* a scheduled restart (or start, if off) */
	SIM_EV_BOOTED,		/* a machine is up again */
};

struct sim_ev {
	uint64_t	 at;
	uint64_t	 seq;
	void		*p;
	uint32_t	 type;
	uint32_t	 n;
};

struct sim_agent;

/* What the simulator keeps beside each scheduler target. */
struct sim_tinfo {
	struct sim_agent *a;
	size_t		 live_idx;
	uint64_t	 delivered_at;
	uint64_t	 pending_at;
	uint64_t	 applied_at;
	uint8_t		 first_final;
	uint8_t		 reserved;	/* holds an S13 place */
};

struct sim_srun {
	struct sim	*sim;
	struct sched_run *run;
	uint32_t	 num;		/* 1-based */
	uint64_t	 start;
	struct sim_tinfo *ti;
	size_t		 nterminal;
	size_t		 nev;		/* events that point into the run */
	int		 finished;
	int		 freeing;
	int		 collected;
};

/* A multicast wave in flight: its members finish together. */
struct sim_wdone {
	struct sim_srun	 *sr;
	size_t		  n;
	struct sched_target *t[];
};

struct sim_agent {
	const struct sim_machine *cfg;
	struct sched_machine *sm;
	uint32_t	 idx;
	int		 on;
	uint64_t	 up_at;		/* while booting; SCHED_NEVER if off */
	uint64_t	 apply_until;	/* S12: applying next-boot updates */
	uint32_t	 pending;	/* S13: staged for next boot */
	uint32_t	 reserved;	/* S13: accepted, not staged yet */
	uint32_t	 max_pending;
	size_t		 next_reboot_idx;
	uint64_t	 next_reboot_t;
	struct sched_target **live;	/* targets not terminal */
	size_t		 nlive;
	size_t		 livecap;
	struct sched_target **pend;	/* targets in pending_boot, in order */
	size_t		 npend;
	size_t		 pendcap;
};

/* The first waves, for the summary table, kept whatever keep says. */
#define SIM_WLIST	20
struct sim_wsum {
	uint32_t	 run;
	uint32_t	 index;
	uint8_t		 path;
	uint8_t		 why;
	uint64_t	 start;		/* ms from the run's start */
	size_t		 n;
};

struct sim_errcount {
	char		*msg;
	size_t		 count;
	uint64_t	 hash;
};

struct sim {
	const struct sim_scenario *sc;
	const struct sim_fleet *fl;
	struct sched	*sched;
	uint64_t	 rng[4];
	uint64_t	 seed;
	FILE		*tl;
	int		 keep;

	struct sim_agent *agents;
	struct sim_srun	*runs;
	struct sim_runinfo *ri;
	uint32_t	 nruns;
	struct sched_machine **mbuf;

	struct sim_ev	*ev;
	size_t		 nev;
	size_t		 evcap;
	uint64_t	 seq;
	size_t		 nlive_ev;	/* events other than restarts */
	uint64_t	 now;
	uint64_t	 last;		/* time of the last run activity */
	size_t		 npend_real;

	struct sim_srun	**tofree;
	size_t		 ntofree;
	size_t		 tofreecap;

	/* Results. */
	struct sim_rec	*recs;
	size_t		 nrecs;
	size_t		 reccap;
	struct sim_wave	*waves;
	size_t		 nwaves;
	size_t		 wavecap;
	uint32_t	*members;
	size_t		 nmembers;
	size_t		 memcap;
	struct sim_wsum	 wfirst[SIM_WLIST];	/* the first waves */
	size_t		 nwtotal;
	size_t		 nwpath[3];
	size_t		 wmin;
	size_t		 wmax;
	size_t		 wsum;
	uint32_t	*done;		/* completion ms from run start */
	size_t		 ndone;
	size_t		 donecap;
	size_t		 states[SCHED_M_NSTATES];
	size_t		 first_final[SCHED_M_NSTATES];
	size_t		 ntargets;
	size_t		 nqueued_ever;
	size_t		 nrefused_runs;
	uint64_t	 first_transfer;
	uint32_t	 max_pending;
	struct sim_errcount *errs;	/* open addressing by message */
	size_t		 errsize;
	size_t		 nerrs;
	char		**strs;		/* interned strings */
	size_t		 nstrs;
	size_t		 strcap;
	int		 ran;
	int		 sorted;	/* outputs sorted, after sim_run() */
};

static void	sim_agent_down(struct sim *, struct sim_agent *, const char *);

static void
sim_push(struct sim *sim, uint64_t at, uint32_t type, void *p, uint32_t n)
{
	struct sim_ev	e, *h;
	size_t		i, parent;

	if (sim->nev == sim->evcap) {
		sim->evcap = sim->evcap == 0 ? 1024 : sim->evcap * 2;
		sim->ev = xreallocarray(sim->ev, sim->evcap, sizeof(*sim->ev));
	}
	e.at = at;
	e.seq = sim->seq++;
	e.p = p;
	e.type = type;
	e.n = n;
	if (type != SIM_EV_REBOOT && type != SIM_EV_BOOTED)
		sim->nlive_ev++;
	h = sim->ev;
	i = sim->nev++;
	while (i > 0) {
		parent = (i - 1) / 2;
		if (h[parent].at < e.at || (h[parent].at == e.at &&
		    h[parent].seq < e.seq))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = e;
}

static struct sim_ev
sim_pop(struct sim *sim)
{
	struct sim_ev	 top = sim->ev[0], last, *h = sim->ev;
	size_t		 i = 0, c, n;

	n = --sim->nev;
	if (top.type != SIM_EV_REBOOT && top.type != SIM_EV_BOOTED)
		sim->nlive_ev--;
	if (n == 0)
		return (top);
	last = h[n];
	for (;;) {
		c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && (h[c + 1].at < h[c].at ||
		    (h[c + 1].at == h[c].at && h[c + 1].seq < h[c].seq)))
			c++;
		if (last.at < h[c].at || (last.at == h[c].at &&
		    last.seq < h[c].seq))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = last;
	return (top);
}

/* The timeline: one line per event, time in seconds from the start. */
static void __attribute__((format(printf, 3, 4)))
sim_tl(struct sim *sim, const struct sim_srun *sr, const char *fmt, ...)
{
	va_list	ap;

	if (sim->tl == NULL)
		return;
	fprintf(sim->tl, "%9" PRIu64 ".%03" PRIu64 "  ", sim->now / 1000,
	    sim->now % 1000);
	if (sr != NULL && sim->nruns > 1)
		fprintf(sim->tl, "run %" PRIu32 ": ", sr->num);
	va_start(ap, fmt);
	vfprintf(sim->tl, fmt, ap);
	va_end(ap);
	fputc('\n', sim->tl);
}

/* "600 s" or "2.5 s": option values as the user wrote them. */
static const char *
sim_fmt_secs(uint64_t ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 " s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 " s", ms / 1000,
		    ms % 1000);
	return (buf);
}

static const char *
sim_plural(size_t n)
{
	return (n == 1 ? "" : "s");
}

static const char *
sim_intern(struct sim *sim, const char *s)
{
	size_t	i;

	if (s == NULL)
		return (NULL);
	/* Few distinct messages exist; the newest are the likeliest. */
	for (i = sim->nstrs; i > 0; i--)
		if (strcmp(sim->strs[i - 1], s) == 0)
			return (sim->strs[i - 1]);
	if (sim->nstrs == sim->strcap) {
		sim->strcap = sim->strcap == 0 ? 16 : sim->strcap * 2;
		sim->strs = xreallocarray(sim->strs, sim->strcap,
		    sizeof(*sim->strs));
	}
	sim->strs[sim->nstrs] = xstrdup(s);
	return (sim->strs[sim->nstrs++]);
}

static void
sim_errcount(struct sim *sim, const char *msg)
{
	struct sim_errcount	*old;
	size_t			 i, h, oldsize;
	uint64_t		 hash = sim_strhash(msg);

	if (sim->nerrs * 2 >= sim->errsize) {
		old = sim->errs;
		oldsize = sim->errsize;
		sim->errsize = oldsize == 0 ? 16 : oldsize * 2;
		sim->errs = xcalloc(sim->errsize, sizeof(*sim->errs));
		for (i = 0; i < oldsize; i++) {
			if (old[i].msg == NULL)
				continue;
			h = old[i].hash & (sim->errsize - 1);
			while (sim->errs[h].msg != NULL)
				h = (h + 1) & (sim->errsize - 1);
			sim->errs[h] = old[i];
		}
		free(old);
	}
	h = hash & (sim->errsize - 1);
	while (sim->errs[h].msg != NULL) {
		if (sim->errs[h].hash == hash &&
		    strcmp(sim->errs[h].msg, msg) == 0) {
			sim->errs[h].count++;
			return;
		}
		h = (h + 1) & (sim->errsize - 1);
	}
	sim->errs[h].msg = xstrdup(msg);
	sim->errs[h].hash = hash;
	sim->errs[h].count = 1;
	sim->nerrs++;
}

static int64_t
sim_rel(uint64_t t, uint64_t start)
{
	if (t == SCHED_NEVER || t < start)
		return (-1);
	return ((int64_t)(t - start));
}

static void
sim_live_add(struct sim_agent *a, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;

	if (a->nlive == a->livecap) {
		a->livecap = a->livecap == 0 ? 4 : a->livecap * 2;
		a->live = xreallocarray(a->live, a->livecap, sizeof(*a->live));
	}
	ti->live_idx = a->nlive;
	a->live[a->nlive++] = t;
}

static void
sim_live_remove(struct sim_agent *a, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;
	struct sched_target	*last;

	last = a->live[--a->nlive];
	a->live[ti->live_idx] = last;
	((struct sim_tinfo *)last->udata)->live_idx = ti->live_idx;
}

static int
sim_terminal(enum sched_mstate st)
{
	return (sched_mstate_final(st) && st != SCHED_M_PENDING_BOOT);
}

static void
sim_check_free(struct sim *sim, struct sim_srun *sr)
{
	if (sr->run == NULL || sr->freeing || !sr->finished ||
	    sr->nterminal < sr->run->ntargets || sr->nev > 0)
		return;
	sr->freeing = 1;
	if (sim->ntofree == sim->tofreecap) {
		sim->tofreecap = sim->tofreecap == 0 ? 16 : sim->tofreecap * 2;
		sim->tofree = xreallocarray(sim->tofree, sim->tofreecap,
		    sizeof(*sim->tofree));
	}
	sim->tofree[sim->ntofree++] = sr;
}

/* Scheduler callbacks. */

static void
sim_cb_machine(void *arg, struct sched_target *t, enum sched_mstate old,
    enum sched_mstate new, uint64_t now, const struct sched_cause *c)
{
	struct sim		*sim = arg;
	struct sim_tinfo	*ti = t->udata;
	struct sim_srun		*sr = t->run->udata;
	struct sim_agent	*a = ti->a;
	const char		*name = t->machine->name;

	sim->last = now;
	if (ti->first_final == 0xff && sched_mstate_final(new))
		ti->first_final = new;
	switch (new) {
	case SCHED_M_READY:
		if (!t->run->opts.unicast && !t->run->decided &&
		    (t->run->opts.max_targets != 0 ||
		    t->run->opts.max_wait != SCHED_NEVER))
			sim_tl(sim, sr, "%s ready (%zu/%zu)", name,
			    t->run->nready, t->run->target_count);
		else
			sim_tl(sim, sr, "%s ready", name);
		break;
	case SCHED_M_QUEUED:
		sim->nqueued_ever++;
		sim_tl(sim, sr, "%s queued: no free slot (S7, "
		    "max_concurrent_machines %" PRIu32 ")", name,
		    sim->sc->max_concurrent_machines);
		break;
	case SCHED_M_TRANSFERRING:
		break;		/* the wave's line says it */
	case SCHED_M_DELIVERED:
		ti->delivered_at = now;
		sim_tl(sim, sr, "%s delivered", name);
		break;
	case SCHED_M_PENDING_BOOT:
		ti->pending_at = now;
		if (ti->reserved) {
			a->reserved--;
			ti->reserved = 0;
		}
		a->pending++;
		if (a->pending > a->max_pending)
			a->max_pending = a->pending;
		if (a->npend == a->pendcap) {
			a->pendcap = a->pendcap == 0 ? 4 : a->pendcap * 2;
			a->pend = xreallocarray(a->pend, a->pendcap,
			    sizeof(*a->pend));
		}
		a->pend[a->npend++] = t;
		sim->npend_real++;
		sim_tl(sim, sr, "%s pending_boot: runs at the next start "
		    "(%" PRIu32 " pending)", name, a->pending);
		break;
	case SCHED_M_RUNNING:
		/* Running for no time at all is not worth a line. */
		if (sim->sc->exec_time > 0)
			sim_tl(sim, sr, "%s running", name);
		break;
	case SCHED_M_SUCCEEDED:
		sim_tl(sim, sr, "%s succeeded", name);
		break;
	case SCHED_M_FAILED:
	case SCHED_M_ERROR:
	case SCHED_M_MISSED:
	case SCHED_M_INTERRUPTED:
		sim_tl(sim, sr, "%s %s: %s", name, sched_strmstate(new),
		    t->error != NULL ? t->error : "?");
		break;
	case SCHED_M_ASSIGNED:
		break;
	}
	/* applied_at: the staged package starts at the machine's restart. */
	if (old == SCHED_M_PENDING_BOOT) {
		sim->npend_real--;
		ti->applied_at = now;
	}
	if (sim_terminal(new)) {
		if (ti->reserved) {
			a->reserved--;
			ti->reserved = 0;
		}
		sim_live_remove(a, t);
		sr->nterminal++;
		sim_check_free(sim, sr);
	}
}

static void
sim_cb_error(void *arg, struct sched_machine *m, uint64_t now)
{
	struct sim	*sim = arg;

	if (m->error == NULL)
		sim_tl(sim, NULL, "%s error cleared (admin clear-error, S6)",
		    m->name);
}

static void
sim_cb_run(void *arg, struct sched_run *run, enum sched_rstate old,
    enum sched_rstate new, uint64_t now)
{
	struct sim	*sim = arg;
	struct sim_srun	*sr = run->udata;

	sim->last = now;
	if (new != SCHED_R_FINISHED)
		return;
	sr->finished = 1;
	sim_tl(sim, NULL, "run %" PRIu32 " finished", sr->num);
	sim_check_free(sim, sr);
}

static uint64_t
sim_duration(const struct sim *sim, uint64_t rate)
{
	if (sim->sc->rate != 0 && sim->sc->rate < rate)
		rate = sim->sc->rate;
	if (sim->sc->package_size == 0)
		return (0);
	/* Rounded up: a transfer never ends before its last byte. */
	return ((sim->sc->package_size * 1000 + rate - 1) / rate);
}

static void
sim_cb_wave(void *arg, const struct sched_wave *w)
{
	struct sim		*sim = arg;
	struct sim_srun		*sr = w->run->udata;
	struct sim_tinfo	*ti;
	struct sim_wdone	*wd;
	struct sim_wave		*rw;
	char			 gbuf[INET_ADDRSTRLEN], dbuf[300];
	uint64_t		 rate = UINT64_MAX, d, end = w->start;
	size_t			 i;

	sim->last = w->start;
	if (sim->first_transfer == SCHED_NEVER)
		sim->first_transfer = w->start - sr->start;
	if (w->path == SCHED_PATH_MULTICAST) {
		/*
		 * The group goes at the pace of its slowest member that is
		 * listening; a member that is down fails below.
		 */
		for (i = 0; i < w->n; i++) {
			ti = w->members[i]->udata;
			if (ti->a->on && ti->a->cfg->link_rate < rate)
				rate = ti->a->cfg->link_rate;
		}
		for (i = 0; i < w->n && rate == UINT64_MAX; i++) {
			ti = w->members[i]->udata;
			if (ti->a->cfg->link_rate < rate)
				rate = ti->a->cfg->link_rate;
		}
		d = sim_duration(sim, rate);
		end = w->start + d;
		wd = xmalloc(sizeof(*wd) + w->n * sizeof(wd->t[0]));
		wd->sr = sr;
		wd->n = w->n;
		memcpy(wd->t, w->members, w->n * sizeof(wd->t[0]));
		sr->nev++;
		sim_push(sim, end, SIM_EV_WAVE_DONE, wd, 0);
		sim_tl(sim, sr, "wave %u multicast to %s: %zu machine%s (%s), "
		    "transfer %s", w->index,
		    sched_group_str(w->run->group, gbuf, sizeof(gbuf)), w->n,
		    sim_plural(w->n), sched_strwhy(w->why),
		    sim_fmt_secs(d, dbuf, sizeof(dbuf)));
	} else {
		for (i = 0; i < w->n; i++) {
			ti = w->members[i]->udata;
			d = sim_duration(sim, ti->a->cfg->link_rate);
			if (w->start + d > end)
				end = w->start + d;
			sr->nev++;
			sim_push(sim, w->start + d, SIM_EV_XFER_DONE,
			    w->members[i], 0);
		}
		if (w->n == 1)
			snprintf(dbuf, sizeof(dbuf), "%s",
			    w->members[0]->machine->name);
		else
			snprintf(dbuf, sizeof(dbuf), "%zu machines", w->n);
		if (w->why == SCHED_WHY_UNICAST)
			sim_tl(sim, sr, "wave %u unicast: %s", w->index, dbuf);
		else
			sim_tl(sim, sr, "wave %u unicast: %s (%s)", w->index,
			    dbuf, sched_strwhy(w->why));
	}

	/*
	 * A machine that got ready, then went down (a restart, an S11
	 * power-off for another run) is not listening when its wave begins:
	 * its transfer fails.  The scheduler hears of it on the event queue,
	 * as callbacks must not call back into it.
	 */
	for (i = 0; i < w->n; i++) {
		ti = w->members[i]->udata;
		if (ti->a->on)
			continue;
		sr->nev++;
		sim_push(sim, w->start, SIM_EV_XFER_FAIL, w->members[i], 0);
	}

	if (sim->nwtotal < SIM_WLIST) {
		sim->wfirst[sim->nwtotal].run = sr->num;
		sim->wfirst[sim->nwtotal].index = w->index;
		sim->wfirst[sim->nwtotal].path = (uint8_t)w->path;
		sim->wfirst[sim->nwtotal].why = (uint8_t)w->why;
		sim->wfirst[sim->nwtotal].start = w->start - sr->start;
		sim->wfirst[sim->nwtotal].n = w->n;
	}
	if (sim->nwtotal == 0 || w->n < sim->wmin)
		sim->wmin = w->n;
	if (w->n > sim->wmax)
		sim->wmax = w->n;
	sim->wsum += w->n;
	sim->nwpath[w->path]++;
	sim->nwtotal++;
	if (!sim->keep)
		return;
	if (sim->nwaves == sim->wavecap) {
		sim->wavecap = sim->wavecap == 0 ? 64 : sim->wavecap * 2;
		sim->waves = xreallocarray(sim->waves, sim->wavecap,
		    sizeof(*sim->waves));
	}
	rw = &sim->waves[sim->nwaves++];
	rw->run = sr->num;
	rw->index = w->index;
	rw->path = (uint8_t)w->path;
	rw->why = (uint8_t)w->why;
	rw->group = w->path == SCHED_PATH_MULTICAST ? w->run->group : 0;
	rw->start = sim_rel(w->start, sr->start);
	rw->end = sim_rel(end, sr->start);
	rw->off = sim->nmembers;
	rw->n = w->n;
	if (sim->nmembers + w->n > sim->memcap) {
		while (sim->nmembers + w->n > sim->memcap)
			sim->memcap = sim->memcap == 0 ? 256 :
			    sim->memcap * 2;
		sim->members = xreallocarray(sim->members, sim->memcap,
		    sizeof(*sim->members));
	}
	for (i = 0; i < w->n; i++) {
		ti = w->members[i]->udata;
		sim->members[sim->nmembers++] = ti->a->idx;
	}
}

/* Virtual agents. */

/* The next scheduled restart after `now' (at or after, at the start). */
static uint64_t
sim_next_reboot(struct sim_agent *a, uint64_t now, int inclusive)
{
	const struct sim_machine *m = a->cfg;
	uint64_t	 t1 = SCHED_NEVER, t2 = SCHED_NEVER;

	while (a->next_reboot_idx < m->nreboot &&
	    (m->reboot_at[a->next_reboot_idx] < now ||
	    (!inclusive && m->reboot_at[a->next_reboot_idx] == now)))
		a->next_reboot_idx++;
	if (a->next_reboot_idx < m->nreboot)
		t1 = m->reboot_at[a->next_reboot_idx];
	if (m->reboot_every != 0)
		t2 = (now / m->reboot_every + 1) * m->reboot_every;
	if (t1 <= t2) {
		if (t1 != SCHED_NEVER)
			a->next_reboot_idx++;
		return (t1);
	}
	return (t2);
}

static void
sim_schedule_reboot(struct sim *sim, struct sim_agent *a, int inclusive)
{
	a->next_reboot_t = sim_next_reboot(a, sim->now, inclusive);
	if (a->next_reboot_t != SCHED_NEVER)
		sim_push(sim, a->next_reboot_t, SIM_EV_REBOOT, a, 0);
}

/* When the agent will be up, SCHED_NEVER if nothing will start it. */
static uint64_t
sim_agent_up_time(const struct sim *sim, const struct sim_agent *a)
{
	if (a->on)
		return (sim->now);
	if (a->up_at != SCHED_NEVER)
		return (a->up_at);
	if (a->next_reboot_t != SCHED_NEVER)
		return (a->next_reboot_t + a->cfg->boot_time);
	return (SCHED_NEVER);
}

/*
 * The machine goes down (restart or power-off): what it was receiving or
 * running fails; what waits for next boot stays.
 */
static void
sim_agent_down(struct sim *sim, struct sim_agent *a, const char *why)
{
	struct sched_target	**copy;
	size_t			  i, n = a->nlive;
	char			  msg[128];

	a->on = 0;
	a->up_at = SCHED_NEVER;
	a->apply_until = 0;
	if (n == 0)
		return;
	copy = xreallocarray(NULL, n, sizeof(*copy));
	memcpy(copy, a->live, n * sizeof(*copy));
	for (i = 0; i < n; i++) {
		if (copy[i]->state == SCHED_M_TRANSFERRING) {
			snprintf(msg, sizeof(msg), "%s during the transfer",
			    why);
			sched_report(sim->sched, copy[i], SCHED_EV_FAILED,
			    sim->now, msg);
		} else if (copy[i]->state == SCHED_M_RUNNING) {
			snprintf(msg, sizeof(msg), "%s while the package was "
			    "running", why);
			sched_report(sim->sched, copy[i], SCHED_EV_FAILED,
			    sim->now, msg);
		}
	}
	free(copy);
}

static void
sim_agent_restart(struct sim *sim, struct sim_agent *a, const char *why)
{
	sim_tl(sim, NULL, "%s restarting (%s)", a->cfg->name, why);
	sim_agent_down(sim, a, "machine restarted");
	a->up_at = sim->now + a->cfg->boot_time;
	sim_push(sim, a->up_at, SIM_EV_BOOTED, a, 0);
}

static void
sim_exec_done(struct sim *sim, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;

	if (t->state != SCHED_M_RUNNING)
		return;
	sched_report(sim->sched, t, SCHED_EV_SUCCEEDED, sim->now, NULL);
	if (t->run->opts.at_next_boot || !ti->a->on)
		return;
	/* Power off at the scenario's end (S11 covers the next-boot case). */
	if (t->run->opts.poweroff_after) {
		sim_tl(sim, t->run->udata, "%s powered off at scenario end",
		    ti->a->cfg->name);
		sim_agent_down(sim, ti->a, "machine powered off");
	} else if (t->run->opts.reboot_after)
		sim_agent_restart(sim, ti->a, "reboot_after, S14");
}

static void
sim_delivered(struct sim *sim, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;
	struct sim_srun		*sr = t->run->udata;
	struct sim_agent	*a = ti->a;

	if (t->state != SCHED_M_TRANSFERRING)
		return;
	sched_report(sim->sched, t, SCHED_EV_DELIVERED, sim->now, NULL);
	if (t->run->opts.at_next_boot) {
		sched_report(sim->sched, t, SCHED_EV_PENDING_BOOT, sim->now,
		    NULL);
		/* S11: power off right after delivery, not after the update. */
		if (t->run->opts.poweroff_after && a->on) {
			sim_tl(sim, sr, "%s powered off after delivery (S11)",
			    a->cfg->name);
			sim_agent_down(sim, a, "machine powered off");
		}
		return;
	}
	sched_report(sim->sched, t, SCHED_EV_RUNNING, sim->now, NULL);
	if (sim->sc->exec_time == 0)
		sim_exec_done(sim, t);
	else {
		sr->nev++;
		sim_push(sim, sim->now + sim->sc->exec_time, SIM_EV_EXEC_DONE,
		    t, 0);
	}
}

/*
 * A machine is up: it runs what was pending for next boot, one package
 * after the other, and while it does, new scenarios fail (S12).  The
 * pending count starts again from zero (S13).
 */
static void
sim_agent_booted(struct sim *sim, struct sim_agent *a)
{
	struct sched_target	**copy = NULL;
	struct sim_srun		 *sr;
	size_t			  i, n = a->npend;
	uint32_t		  k = a->pending;

	a->on = 1;
	a->up_at = SCHED_NEVER;
	a->pending = 0;
	if (k == 0) {
		sim_tl(sim, NULL, "%s up", a->cfg->name);
		return;
	}
	a->apply_until = sim->now + (uint64_t)k * sim->sc->exec_time;
	sim_tl(sim, NULL, "%s up: applying %" PRIu32 " next-boot "
	    "scenario%s", a->cfg->name, k, k == 1 ? "" : "s");
	if (n > 0) {
		copy = xreallocarray(NULL, n, sizeof(*copy));
		memcpy(copy, a->pend, n * sizeof(*copy));
	}
	a->npend = 0;
	/* Packages pending from before the simulation go first. */
	for (i = 0; i < n; i++) {
		sched_report(sim->sched, copy[i], SCHED_EV_RUNNING, sim->now,
		    NULL);
		if (sim->sc->exec_time == 0)
			sched_report(sim->sched, copy[i], SCHED_EV_SUCCEEDED,
			    sim->now, NULL);
		else {
			sr = copy[i]->run->udata;
			sr->nev++;
			sim_push(sim, sim->now + (k - n + i + 1) *
			    sim->sc->exec_time, SIM_EV_APPLY_DONE, copy[i], 0);
		}
	}
	free(copy);
}

static void
sim_ready(struct sim *sim, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;
	struct sim_srun		*sr = t->run->udata;
	struct sim_agent	*a = ti->a;
	uint64_t		 up;

	if (t->state != SCHED_M_ASSIGNED)
		return;
	if (!a->on) {
		/* The agent reports once the machine is up, if ever. */
		if ((up = sim_agent_up_time(sim, a)) != SCHED_NEVER) {
			sr->nev++;
			sim_push(sim, up, SIM_EV_READY, t, 0);
		}
		return;
	}
	if (sim->now < a->apply_until) {
		sched_report(sim->sched, t, SCHED_EV_ERROR, sim->now,
		    "next-boot update in progress (S12): run the scenario "
		    "again after the update");
		return;
	}
	if (t->run->opts.at_next_boot) {
		if (a->pending + a->reserved >= CTL_PENDING_CAP) {
			sched_report(sim->sched, t, SCHED_EV_ERROR, sim->now,
			    "100 next-boot scenarios already pending (S13): "
			    "refused until the machine restarts");
			return;
		}
		a->reserved++;
		ti->reserved = 1;
	}
	sched_report(sim->sched, t, SCHED_EV_READY, sim->now, NULL);
}

static void
sim_run_start(struct sim *sim, uint32_t k)
{
	struct sim_srun		*sr = &sim->runs[k];
	struct sim_runinfo	*ri = &sim->ri[k];
	const struct sim_scenario *sc = sim->sc;
	struct sched_target	*t;
	struct sim_agent	*a;
	char			 id[32], err[512], gbuf[INET_ADDRSTRLEN];
	char			 opts[160], dbuf[32];
	size_t			 n, i, j, first;
	uint64_t		 d;
	int			 off = 0;

	sr->sim = sim;
	sr->num = k + 1;
	sr->start = sim->now;
	ri->start = sim->now;
	ri->first_wave = ri->finished = -1;
	snprintf(id, sizeof(id), "run-%" PRIu32, sr->num);
	ri->id = xstrdup(id);

	n = sc->targets_per_run != 0 ? sc->targets_per_run : sim->fl->n;
	first = sc->targets_per_run != 0 ?
	    ((size_t)k * sc->targets_per_run) % sim->fl->n : 0;
	for (i = 0; i < n; i++) {
		j = (first + i) % sim->fl->n;
		sim->mbuf[i] = sim->agents[j].sm;
		/* The admin clears S6 errors before each run, if asked. */
		if (sc->clear_errors && sim->mbuf[i]->error != NULL)
			sched_clear_error(sim->sched, sim->mbuf[i], sim->now);
	}
	sr->run = sched_run_new(sim->sched, id, &sc->opts, sim->mbuf, n, err,
	    sizeof(err));
	if (sr->run == NULL) {
		ri->error = xstrdup(err);
		sim->nrefused_runs++;
		sim_tl(sim, NULL, "run %" PRIu32 " refused: %s", sr->num, err);
		return;
	}
	sr->run->udata = sr;
	ri->group = sc->opts.unicast ? 0 : sr->run->group;
	ri->ntargets = n;
	sim->ntargets += n;
	sr->ti = xcalloc(n, sizeof(*sr->ti));
	for (i = 0; i < n; i++) {
		t = &sr->run->targets[i];
		sr->ti[i].a = t->machine->udata;
		sr->ti[i].first_final = 0xff;
		sr->ti[i].delivered_at = SCHED_NEVER;
		sr->ti[i].pending_at = SCHED_NEVER;
		sr->ti[i].applied_at = SCHED_NEVER;
		t->udata = &sr->ti[i];
		sim_live_add(sr->ti[i].a, t);
	}

	if (sim->tl != NULL) {
		opts[0] = '\0';
		if (sc->opts.max_targets != 0)
			off += snprintf(opts + off, sizeof(opts) - off,
			    ", max_targets %" PRIu32, sc->opts.max_targets);
		if (sc->opts.max_wait != SCHED_NEVER)
			off += snprintf(opts + off, sizeof(opts) - off,
			    ", max_wait %s", sim_fmt_secs(sc->opts.max_wait,
			    dbuf, sizeof(dbuf)));
		if (sc->opts.at_next_boot)
			snprintf(opts + off, sizeof(opts) - off,
			    ", at next boot");
		if (sc->opts.unicast)
			sim_tl(sim, NULL, "run %" PRIu32 " started: %zu "
			    "machine%s, unicast%s", sr->num, n, sim_plural(n),
			    opts);
		else
			sim_tl(sim, NULL, "run %" PRIu32 " started: %zu "
			    "machine%s, group %s%s", sr->num, n, sim_plural(n),
			    sched_group_str(sr->run->group, gbuf,
			    sizeof(gbuf)), opts);
		if (sc->restart_at_start)
			sim_tl(sim, sr, "restart_at_start is ignored for "
			    "remote updates (S15)");
	}

	sched_run_start(sim->sched, sr->run, sim->now);
	/*
	 * One draw per target whatever happens to it, so that changing one
	 * option does not shift every later draw.
	 */
	for (i = 0; i < n; i++) {
		t = &sr->run->targets[i];
		a = sr->ti[i].a;
		d = sim_draw(sim->rng, &a->cfg->ready);
		if (d == SCHED_NEVER || t->state != SCHED_M_ASSIGNED)
			continue;
		sr->nev++;
		sim_push(sim, sim->now + d, SIM_EV_READY, t, 0);
	}
}

/* Keep what the outputs need from a run, then forget it. */
static void
sim_collect(struct sim *sim, struct sim_srun *sr)
{
	struct sched_run	*run = sr->run;
	struct sim_runinfo	*ri = &sim->ri[sr->num - 1];
	struct sched_target	*t;
	struct sim_tinfo	*ti;
	struct sim_rec		*r;
	size_t			 i;
	uint64_t		 c;

	ri->state = run->state;
	ri->first_wave = sim_rel(run->first_wave_at, sr->start);
	ri->finished = sim_rel(run->finished_at, sr->start);
	for (i = 0; i < run->ntargets; i++) {
		t = &run->targets[i];
		ti = t->udata;
		sim->states[t->state]++;
		if (ti->first_final != 0xff)
			sim->first_final[ti->first_final]++;
		if ((t->state == SCHED_M_ERROR || t->state == SCHED_M_FAILED) &&
		    t->error != NULL)
			sim_errcount(sim, t->error);
		if (ti->first_final == SCHED_M_SUCCEEDED ||
		    ti->first_final == SCHED_M_PENDING_BOOT) {
			c = t->done_at - sr->start;
			if (sim->ndone == sim->donecap) {
				sim->donecap = sim->donecap == 0 ? 1024 :
				    sim->donecap * 2;
				sim->done = xreallocarray(sim->done,
				    sim->donecap, sizeof(*sim->done));
			}
			sim->done[sim->ndone++] = c > UINT32_MAX ?
			    UINT32_MAX : (uint32_t)c;
		}
		if (ti->a->max_pending > sim->max_pending)
			sim->max_pending = ti->a->max_pending;
		if (!sim->keep)
			continue;
		if (sim->nrecs == sim->reccap) {
			sim->reccap = sim->reccap == 0 ? 256 : sim->reccap * 2;
			sim->recs = xreallocarray(sim->recs, sim->reccap,
			    sizeof(*sim->recs));
		}
		r = &sim->recs[sim->nrecs++];
		r->run = sr->num;
		r->machine = ti->a->idx;
		r->state = t->state;
		r->first_final = ti->first_final;
		r->path = t->path;
		r->wave = t->wave;
		r->ready_at = sim_rel(t->ready_at, sr->start);
		r->start_at = sim_rel(t->start_at, sr->start);
		r->delivered_at = sim_rel(ti->delivered_at, sr->start);
		r->pending_at = sim_rel(ti->pending_at, sr->start);
		r->done_at = sim_rel(t->done_at, sr->start);
		r->applied_at = sim_rel(ti->applied_at, sr->start);
		r->error = sim_intern(sim, t->error);
	}
	sr->collected = 1;
	for (i = 0; i < run->ntargets; i++) {
		t = &run->targets[i];
		if (!sim_terminal(t->state))
			sim_live_remove(((struct sim_tinfo *)t->udata)->a, t);
	}
	sched_run_free(sim->sched, run);
	sr->run = NULL;
	free(sr->ti);
	sr->ti = NULL;
}

static void
sim_process(struct sim *sim, const struct sim_ev *e)
{
	struct sched_target	*t;
	struct sim_srun		*sr;
	struct sim_wdone	*wd;
	struct sim_agent	*a;
	size_t			 i;

	switch (e->type) {
	case SIM_EV_RUN:
		sim->last = sim->now;
		sim_run_start(sim, e->n);
		break;
	case SIM_EV_READY:
	case SIM_EV_XFER_DONE:
	case SIM_EV_EXEC_DONE:
	case SIM_EV_APPLY_DONE:
	case SIM_EV_XFER_FAIL:
		t = e->p;
		sr = t->run->udata;
		sr->nev--;
		if (e->type == SIM_EV_READY)
			sim_ready(sim, t);
		else if (e->type == SIM_EV_XFER_DONE)
			sim_delivered(sim, t);
		else if (e->type == SIM_EV_EXEC_DONE)
			sim_exec_done(sim, t);
		else if (e->type == SIM_EV_XFER_FAIL) {
			if (t->state == SCHED_M_TRANSFERRING)
				sched_report(sim->sched, t, SCHED_EV_FAILED,
				    sim->now, "machine was down when the "
				    "transfer started");
		} else if (t->state == SCHED_M_RUNNING)
			sched_report(sim->sched, t, SCHED_EV_SUCCEEDED,
			    sim->now, NULL);
		sim_check_free(sim, sr);
		break;
	case SIM_EV_WAVE_DONE:
		wd = e->p;
		wd->sr->nev--;
		for (i = 0; i < wd->n; i++)
			sim_delivered(sim, wd->t[i]);
		sim_check_free(sim, wd->sr);
		free(wd);
		break;
	case SIM_EV_REBOOT:
		a = e->p;
		a->next_reboot_t = SCHED_NEVER;
		sim_schedule_reboot(sim, a, 0);
		if (a->on)
			sim_agent_restart(sim, a, "scheduled");
		else if (a->up_at == SCHED_NEVER) {
			/* Powered off (S11): this is its next start. */
			sim_tl(sim, NULL, "%s starting", a->cfg->name);
			a->up_at = sim->now + a->cfg->boot_time;
			sim_push(sim, a->up_at, SIM_EV_BOOTED, a, 0);
		}
		break;
	case SIM_EV_BOOTED:
		a = e->p;
		/* A restart while booting makes this event stale. */
		if (!a->on && a->up_at == e->at)
			sim_agent_booted(sim, a);
		break;
	}
}

/*
 * Nothing but restarts is left: go on only while some of them will apply
 * a pending next-boot package, and only up to the latest such start.
 */
static uint64_t
sim_boot_horizon(const struct sim *sim)
{
	const struct sim_agent	*a;
	uint64_t		 h = SCHED_NEVER, up;
	size_t			 i;

	for (i = 0; i < sim->fl->n; i++) {
		a = &sim->agents[i];
		if (a->npend == 0)
			continue;
		if (a->on)
			up = a->next_reboot_t == SCHED_NEVER ? SCHED_NEVER :
			    a->next_reboot_t + a->cfg->boot_time;
		else
			up = sim_agent_up_time(sim, a);
		if (up == SCHED_NEVER)
			continue;
		if (h == SCHED_NEVER || up > h)
			h = up;
	}
	return (h);
}

struct sim *
sim_new(const struct sim_scenario *sc, const struct sim_fleet *fl,
    uint64_t seed, FILE *timeline, int keep)
{
	struct sim		*sim;
	struct sched_conf	 conf;
	struct sched_cb		 cb;
	struct sim_agent	*a;
	uint64_t		 x = seed;
	size_t			 i, maxn;

	sim = xcalloc(1, sizeof(*sim));
	sim->sc = sc;
	sim->fl = fl;
	sim->seed = seed;
	sim->tl = timeline;
	sim->keep = keep;
	sim->first_transfer = SCHED_NEVER;
	for (i = 0; i < 4; i++)
		sim->rng[i] = sim_splitmix(&x);

	memset(&conf, 0, sizeof(conf));
	conf.max_concurrent_machines = sc->max_concurrent_machines;
	conf.on_concurrency_limit = sc->on_concurrency_limit;
	conf.group_base = sc->group_base;
	conf.group_prefix = sc->group_prefix;
	memset(&cb, 0, sizeof(cb));
	cb.machine_state = sim_cb_machine;
	cb.machine_error = sim_cb_error;
	cb.run_state = sim_cb_run;
	cb.wave_start = sim_cb_wave;
	sim->sched = sched_new(&conf, &cb, sim);

	sim->agents = xcalloc(fl->n, sizeof(*sim->agents));
	for (i = 0; i < fl->n; i++) {
		a = &sim->agents[i];
		a->cfg = &fl->m[i];
		a->idx = (uint32_t)i;
		a->sm = sched_machine_get(sim->sched, fl->m[i].name);
		a->sm->remote = fl->m[i].remote;
		a->sm->udata = a;
		a->pending = fl->m[i].pending;
		a->max_pending = a->pending;
		a->next_reboot_t = SCHED_NEVER;
		a->on = 1;
		a->up_at = SCHED_NEVER;
	}
	sim->nruns = sc->runs;
	sim->runs = xcalloc(sim->nruns, sizeof(*sim->runs));
	sim->ri = xcalloc(sim->nruns, sizeof(*sim->ri));
	maxn = sc->targets_per_run != 0 && sc->targets_per_run < fl->n ?
	    sc->targets_per_run : fl->n;
	sim->mbuf = xcalloc(maxn, sizeof(*sim->mbuf));
	return (sim);
}

static void
sim_close_runs(struct sim *sim)
{
	struct sim_srun	*sr;
	struct sched_run *run;
	char		 reason[256];
	uint32_t	 k;

	for (k = 0; k < sim->nruns; k++) {
		sr = &sim->runs[k];
		if ((run = sr->run) == NULL || run->state == SCHED_R_FINISHED)
			continue;
		if (!run->decided && !run->opts.unicast &&
		    run->opts.max_targets != 0 &&
		    run->opts.max_wait == SCHED_NEVER)
			snprintf(reason, sizeof(reason), "the simulation "
			    "ended before max targets was reached (%zu of %zu "
			    "ready)", run->nready, run->target_count);
		else
			snprintf(reason, sizeof(reason), "the simulation "
			    "ended before the machine was ready");
		sched_run_close(sim->sched, run, sim->now, reason);
	}
}

void
sim_run(struct sim *sim)
{
	struct sim_ev	 e;
	uint64_t	 dl, horizon = SCHED_NEVER;
	uint32_t	 k;
	size_t		 i;
	struct sim_agent *a;

	if (sim->ran)
		return;
	sim->ran = 1;
	for (i = 0; i < sim->fl->n; i++) {
		a = &sim->agents[i];
		if (a->cfg->online_at > 0) {
			a->on = 0;
			a->up_at = a->cfg->online_at;
			sim_push(sim, a->up_at, SIM_EV_BOOTED, a, 0);
		}
		sim_schedule_reboot(sim, a, 1);
	}
	for (k = 0; k < sim->nruns; k++)
		sim_push(sim, (uint64_t)k * sim->sc->run_interval, SIM_EV_RUN,
		    NULL, k);

	for (;;) {
		while (sim->ntofree > 0)
			sim_collect(sim, sim->tofree[--sim->ntofree]);
		dl = sched_next_deadline(sim->sched);
		if (dl <= sim->now) {
			sched_timeout(sim->sched, sim->now);
			continue;
		}
		if (sim->nlive_ev == 0 && dl == SCHED_NEVER) {
			if (sim->npend_real == 0)
				break;
			if (horizon == SCHED_NEVER || sim->now >= horizon)
				horizon = sim_boot_horizon(sim);
			if (horizon == SCHED_NEVER || sim->nev == 0 ||
			    sim->ev[0].at > horizon)
				break;
		}
		if (sim->nev == 0 || dl < sim->ev[0].at) {
			if (dl == SCHED_NEVER)
				break;
			sim->now = dl;
			continue;
		}
		sim->now = sim->ev[0].at;
		while (sim->nev > 0 && sim->ev[0].at == sim->now) {
			e = sim_pop(sim);
			sim_process(sim, &e);
		}
	}
	/* Restarts processed after the last run activity do not count. */
	sim->now = sim->last;
	sim_close_runs(sim);
	while (sim->ntofree > 0)
		sim_collect(sim, sim->tofree[--sim->ntofree]);
	for (k = 0; k < sim->nruns; k++)
		if (sim->runs[k].run != NULL)
			sim_collect(sim, &sim->runs[k]);
	for (i = 0; i < sim->fl->n; i++)
		if (sim->agents[i].max_pending > sim->max_pending)
			sim->max_pending = sim->agents[i].max_pending;
	/* Events left are restarts and stale READYs; drop them. */
	for (i = 0; i < sim->nev; i++)
		if (sim->ev[i].type == SIM_EV_WAVE_DONE)
			free(sim->ev[i].p);
	sim->nev = 0;
}

void
sim_free(struct sim *sim)
{
	size_t		i;
	uint32_t	k;

	if (sim == NULL)
		return;
	for (i = 0; i < sim->nev; i++)
		if (sim->ev[i].type == SIM_EV_WAVE_DONE)
			free(sim->ev[i].p);
	for (k = 0; k < sim->nruns; k++) {
		if (sim->runs[k].run != NULL)
			sched_run_free(sim->sched, sim->runs[k].run);
		free(sim->runs[k].ti);
		free(sim->ri[k].id);
		free(sim->ri[k].error);
	}
	sched_free(sim->sched);
	for (i = 0; i < sim->fl->n; i++) {
		free(sim->agents[i].live);
		free(sim->agents[i].pend);
	}
	free(sim->agents);
	free(sim->runs);
	free(sim->ri);
	free(sim->mbuf);
	free(sim->ev);
	free(sim->tofree);
	free(sim->recs);
	free(sim->waves);
	free(sim->members);
	free(sim->done);
	for (i = 0; i < sim->errsize; i++)
		free(sim->errs[i].msg);
	free(sim->errs);
	for (i = 0; i < sim->nstrs; i++)
		free(sim->strs[i]);
	free(sim->strs);
	free(sim);
}

static int
sim_rec_cmp(const void *a, const void *b)
{
	const struct sim_rec	*x = a, *y = b;

	if (x->run != y->run)
		return (x->run < y->run ? -1 : 1);
	if (x->machine != y->machine)
		return (x->machine < y->machine ? -1 : 1);
	return (0);
}

static int
sim_wave_cmp(const void *a, const void *b)
{
	const struct sim_wave	*x = a, *y = b;

	if (x->run != y->run)
		return (x->run < y->run ? -1 : 1);
	if (x->index != y->index)
		return (x->index < y->index ? -1 : 1);
	return (0);
}

static int
sim_u32_cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x < y ? -1 : x > y);
}

/* Runs finish in any order: sort once for the outputs. */
static void
sim_sort(const struct sim *csim)
{
	struct sim	*sim = (struct sim *)csim;

	if (sim->sorted)
		return;
	sim->sorted = 1;
	if (sim->nrecs > 0)
		qsort(sim->recs, sim->nrecs, sizeof(*sim->recs), sim_rec_cmp);
	if (sim->nwaves > 0)
		qsort(sim->waves, sim->nwaves, sizeof(*sim->waves),
		    sim_wave_cmp);
	if (sim->ndone > 0)
		qsort(sim->done, sim->ndone, sizeof(*sim->done), sim_u32_cmp);
}

const struct sim_rec *
sim_records(const struct sim *sim, size_t *n)
{
	sim_sort(sim);
	*n = sim->nrecs;
	return (sim->recs);
}

const struct sim_wave *
sim_waves(const struct sim *sim, size_t *n)
{
	sim_sort(sim);
	*n = sim->nwaves;
	return (sim->waves);
}

const uint32_t *
sim_wave_members(const struct sim *sim)
{
	return (sim->members);
}

const struct sim_runinfo *
sim_runs(const struct sim *sim, size_t *n)
{
	*n = sim->nruns;
	return (sim->ri);
}

uint32_t
sim_max_pending(const struct sim *sim)
{
	return (sim->max_pending);
}

size_t
sim_count_state(const struct sim *sim, enum sched_mstate st)
{
	return ((unsigned)st < SCHED_M_NSTATES ? sim->states[st] : 0);
}

uint64_t
sim_end(const struct sim *sim)
{
	return (sim->now);
}

/* Nearest rank: the smallest value with at least p% at or below it. */
static uint32_t
sim_percentile(const struct sim *sim, unsigned p)
{
	size_t	rank;

	rank = (sim->ndone * p + 99) / 100;
	if (rank == 0)
		rank = 1;
	return (sim->done[rank - 1]);
}

static int
sim_err_cmp(const void *a, const void *b)
{
	const struct sim_errcount *x = a, *y = b;

	if (x->count != y->count)
		return (x->count > y->count ? -1 : 1);
	return (strcmp(x->msg, y->msg));
}

/* The error messages with their counts, most frequent first. */
static struct sim_errcount *
sim_errlist(const struct sim *sim, size_t *n)
{
	struct sim_errcount	*l;
	size_t			 i;

	l = xcalloc(sim->nerrs + 1, sizeof(*l));
	*n = 0;
	for (i = 0; i < sim->errsize; i++)
		if (sim->errs[i].msg != NULL)
			l[(*n)++] = sim->errs[i];
	qsort(l, *n, sizeof(*l), sim_err_cmp);
	return (l);
}

#define SIM_SECS(ms)	(uint64_t)(ms) / 1000, (uint64_t)(ms) % 1000

void
sim_print_summary(const struct sim *sim, FILE *f)
{
	struct sim_errcount	*el;
	const struct sim_wsum	*w;
	size_t			 i, n, shown = 0;

	sim_sort(sim);
	fprintf(f, "\nsummary\n");
	fprintf(f, "  %-24s %" PRIu32 " (%zu refused)\n", "runs", sim->nruns,
	    sim->nrefused_runs);
	fprintf(f, "  %-24s %zu machine-runs (fleet of %zu)\n", "targets",
	    sim->ntargets, sim->fl->n);
	fprintf(f, "  (times are seconds from the start of each run)\n");
	if (sim->first_transfer == SCHED_NEVER)
		fprintf(f, "  %-24s none\n", "first transfer start");
	else
		fprintf(f, "  %-24s %" PRIu64 ".%03" PRIu64 " s\n",
		    "first transfer start", SIM_SECS(sim->first_transfer));
	fprintf(f, "  %-24s %zu (multicast %zu, unicast %zu)\n", "waves",
	    sim->nwtotal, sim->nwpath[SCHED_PATH_MULTICAST],
	    sim->nwpath[SCHED_PATH_UNICAST]);
	for (i = 0; i < sim->nwtotal && i < SIM_WLIST; i++) {
		w = &sim->wfirst[i];
		if (sim->nruns > 1)
			fprintf(f, "    run %" PRIu32 " ", w->run);
		else
			fprintf(f, "    ");
		fprintf(f, "wave %-3u %9" PRIu64 ".%03" PRIu64 " s  %-9s "
		    "%5zu machine%s%s (%s)\n", w->index, SIM_SECS(w->start),
		    sched_strpath(w->path), w->n, sim_plural(w->n),
		    w->n == 1 ? " " : "", sched_strwhy(w->why));
	}
	if (sim->nwtotal > SIM_WLIST)
		fprintf(f, "    ... %zu more\n", sim->nwtotal - SIM_WLIST);
	if (sim->nwtotal > 0)
		fprintf(f, "  %-24s min %zu, mean %.1f, max %zu\n",
		    "machines per wave", sim->wmin,
		    (double)sim->wsum / sim->nwtotal, sim->wmax);
	fprintf(f, "  %-24s", "final states");
	for (i = 0; i < SCHED_M_NSTATES; i++) {
		if (sim->states[i] == 0)
			continue;
		fprintf(f, "%s %s %zu", shown++ ? "," : "",
		    sched_strmstate(i), sim->states[i]);
	}
	fprintf(f, "\n");
	el = sim_errlist(sim, &n);
	fprintf(f, "  %-24s %zu\n", "errors and failures",
	    sim->states[SCHED_M_ERROR] + sim->states[SCHED_M_FAILED]);
	for (i = 0; i < n && i < 10; i++)
		fprintf(f, "    %6zu  %s\n", el[i].count, el[i].msg);
	if (n > 10)
		fprintf(f, "    ... %zu more messages\n", n - 10);
	free(el);
	fprintf(f, "  %-24s %zu\n", "missed",
	    sim->states[SCHED_M_MISSED]);
	fprintf(f, "  %-24s %zu\n", "queued by the limit (S7)",
	    sim->nqueued_ever);
	if (sim->ndone == 0)
		fprintf(f, "  %-24s none\n", "completion");
	else
		fprintf(f, "  %-24s %zu machine-runs: p50 %" PRIu64 ".%03"
		    PRIu64 " s, p90 %" PRIu64 ".%03" PRIu64 " s, p100 %"
		    PRIu64 ".%03" PRIu64 " s\n", "completion", sim->ndone,
		    SIM_SECS(sim_percentile(sim, 50)),
		    SIM_SECS(sim_percentile(sim, 90)),
		    SIM_SECS(sim_percentile(sim, 100)));
	fprintf(f, "  %-24s %" PRIu32 " per machine (limit %d, S13)\n",
	    "max pending next-boot", sim->max_pending, CTL_PENDING_CAP);
	fprintf(f, "  %-24s %" PRIu64 ".%03" PRIu64 " s from the first "
	    "run's start\n", "simulation end", SIM_SECS(sim->now));
}

static json_t *
sim_jtime(int64_t ms)
{
	return (ms < 0 ? json_null() : json_real(ms / 1000.0));
}

static json_t *
sim_jstring_or_null(const char *s)
{
	return (s == NULL ? json_null() : json_string(s));
}

#define SIM_JFLAGS	(JSON_REAL_PRECISION(15) | JSON_ENSURE_ASCII)

static int
sim_jdump(json_t *o, FILE *f, int last)
{
	int	rv;

	fputs("  ", f);
	rv = json_dumpf(o, f, SIM_JFLAGS);
	json_decref(o);
	fputs(last ? "\n" : ",\n", f);
	return (rv);
}

static json_t *
sim_json_summary(const struct sim *sim)
{
	json_t			*o, *st, *er, *c, *mpw;
	struct sim_errcount	*el;
	size_t			 i, n;

	o = json_object();
	json_object_set_new(o, "runs", json_integer(sim->nruns));
	json_object_set_new(o, "runs_refused",
	    json_integer(sim->nrefused_runs));
	json_object_set_new(o, "fleet", json_integer(sim->fl->n));
	json_object_set_new(o, "targets", json_integer(sim->ntargets));
	json_object_set_new(o, "first_transfer_start",
	    sim->first_transfer == SCHED_NEVER ? json_null() :
	    json_real(sim->first_transfer / 1000.0));
	json_object_set_new(o, "waves", json_integer(sim->nwtotal));
	mpw = json_array();
	for (i = 0; i < sim->nwaves; i++)
		json_array_append_new(mpw, json_integer(sim->waves[i].n));
	json_object_set_new(o, "machines_per_wave", mpw);
	st = json_object();
	for (i = 0; i < SCHED_M_NSTATES; i++)
		json_object_set_new(st, sched_strmstate(i),
		    json_integer(sim->states[i]));
	json_object_set_new(o, "states", st);
	json_object_set_new(o, "errors", json_integer(
	    sim->states[SCHED_M_ERROR] + sim->states[SCHED_M_FAILED]));
	er = json_array();
	el = sim_errlist(sim, &n);
	for (i = 0; i < n; i++)
		json_array_append_new(er, json_pack("{s:s, s:I}", "error",
		    el[i].msg, "count", (json_int_t)el[i].count));
	free(el);
	json_object_set_new(o, "error_messages", er);
	json_object_set_new(o, "missed",
	    json_integer(sim->states[SCHED_M_MISSED]));
	json_object_set_new(o, "queued", json_integer(sim->nqueued_ever));
	c = json_object();
	json_object_set_new(c, "count", json_integer(sim->ndone));
	json_object_set_new(c, "p50", sim->ndone == 0 ? json_null() :
	    json_real(sim_percentile(sim, 50) / 1000.0));
	json_object_set_new(c, "p90", sim->ndone == 0 ? json_null() :
	    json_real(sim_percentile(sim, 90) / 1000.0));
	json_object_set_new(c, "p100", sim->ndone == 0 ? json_null() :
	    json_real(sim_percentile(sim, 100) / 1000.0));
	json_object_set_new(o, "completion", c);
	json_object_set_new(o, "max_pending_boot",
	    json_integer(sim->max_pending));
	json_object_set_new(o, "end", json_real(sim->now / 1000.0));
	return (o);
}

/*
 * One object, written element by element (one per line) so that a large
 * simulation is not built twice in memory.  Times are seconds from the
 * run's start; runs[].start is from the simulation's start.
 */
int
sim_write_json(const struct sim *sim, FILE *f)
{
	const struct sim_rec	*r;
	const struct sim_wave	*w;
	const struct sim_runinfo *ri;
	json_t			*o, *ms;
	char			 gbuf[INET_ADDRSTRLEN];
	size_t			 i, j;
	int			 rv = 0;

	sim_sort(sim);
	fprintf(f, "{\n\"seed\": %" PRIu64 ",\n\"runs\": [\n", sim->seed);
	for (i = 0; i < sim->nruns; i++) {
		ri = &sim->ri[i];
		o = json_object();
		json_object_set_new(o, "run", json_integer(i + 1));
		json_object_set_new(o, "id", sim_jstring_or_null(ri->id));
		json_object_set_new(o, "start", json_real(ri->start / 1000.0));
		json_object_set_new(o, "group", ri->group == 0 ? json_null() :
		    json_string(sched_group_str(ri->group, gbuf,
		    sizeof(gbuf))));
		json_object_set_new(o, "state", ri->error != NULL ?
		    json_null() : json_string(sched_strrstate(ri->state)));
		json_object_set_new(o, "machines", json_integer(ri->ntargets));
		json_object_set_new(o, "first_transfer_start",
		    sim_jtime(ri->first_wave));
		json_object_set_new(o, "finished_at", sim_jtime(ri->finished));
		json_object_set_new(o, "error", sim_jstring_or_null(ri->error));
		rv |= sim_jdump(o, f, i + 1 == sim->nruns);
	}
	fprintf(f, "],\n\"waves\": [\n");
	for (i = 0; i < sim->nwaves; i++) {
		w = &sim->waves[i];
		o = json_object();
		json_object_set_new(o, "run", json_integer(w->run));
		json_object_set_new(o, "wave", json_integer(w->index));
		json_object_set_new(o, "start", sim_jtime(w->start));
		json_object_set_new(o, "end", sim_jtime(w->end));
		json_object_set_new(o, "path",
		    json_string(sched_strpath(w->path)));
		json_object_set_new(o, "why", json_string(sched_strwhy(w->why)));
		json_object_set_new(o, "group", w->group == 0 ? json_null() :
		    json_string(sched_group_str(w->group, gbuf,
		    sizeof(gbuf))));
		ms = json_array();
		for (j = 0; j < w->n; j++)
			json_array_append_new(ms, json_string(
			    sim->fl->m[sim->members[w->off + j]].name));
		json_object_set_new(o, "machines", ms);
		rv |= sim_jdump(o, f, i + 1 == sim->nwaves);
	}
	fprintf(f, "],\n\"machines\": [\n");
	for (i = 0; i < sim->nrecs; i++) {
		r = &sim->recs[i];
		o = json_object();
		json_object_set_new(o, "run", json_integer(r->run));
		json_object_set_new(o, "name",
		    json_string(sim->fl->m[r->machine].name));
		json_object_set_new(o, "segment", json_string(
		    sim->fl->m[r->machine].remote ? "remote" : "local"));
		json_object_set_new(o, "state",
		    json_string(sched_strmstate(r->state)));
		json_object_set_new(o, "path", r->path == SCHED_PATH_NONE ?
		    json_null() : json_string(sched_strpath(r->path)));
		json_object_set_new(o, "wave", r->wave == 0 ? json_null() :
		    json_integer(r->wave));
		json_object_set_new(o, "ready_at", sim_jtime(r->ready_at));
		json_object_set_new(o, "transfer_start",
		    sim_jtime(r->start_at));
		json_object_set_new(o, "delivered_at",
		    sim_jtime(r->delivered_at));
		json_object_set_new(o, "pending_at", sim_jtime(r->pending_at));
		json_object_set_new(o, "done_at", sim_jtime(r->done_at));
		json_object_set_new(o, "applied_at", sim_jtime(r->applied_at));
		json_object_set_new(o, "error", sim_jstring_or_null(r->error));
		rv |= sim_jdump(o, f, i + 1 == sim->nrecs);
	}
	fprintf(f, "],\n\"summary\": ");
	o = sim_json_summary(sim);
	rv |= json_dumpf(o, f, SIM_JFLAGS | JSON_INDENT(2));
	json_decref(o);
	fprintf(f, "\n}\n");
	return (rv == 0 && !ferror(f) ? 0 : -1);
}

/*
 * The plot: cumulative ready machines, completions and losses over time,
 * a dashed line at each transfer start, max wait and max targets marked.
 * Curves are cut to one step per pixel column, so the file stays small
 * whatever the fleet size.
 */
#define SVG_W	960
#define SVG_H	540
#define SVG_L	72
#define SVG_R	230
#define SVG_T	56
#define SVG_B	64
#define SVG_PW	(SVG_W - SVG_L - SVG_R)
#define SVG_PH	(SVG_H - SVG_T - SVG_B)

struct sim_svg {
	FILE	*f;
	double	 unit;		/* ms per axis unit */
	double	 xmax;		/* in axis units */
	double	 ymax;
};

static double
sim_svg_x(const struct sim_svg *g, uint64_t ms)
{
	return (SVG_L + ((double)ms / g->unit) / g->xmax * SVG_PW);
}

static double
sim_svg_y(const struct sim_svg *g, double c)
{
	return (SVG_T + SVG_PH - c / g->ymax * SVG_PH);
}

static double
sim_nice_step(double range, int target)
{
	double	raw = range / target, mag, f;

	if (raw <= 0)
		return (1);
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	if (f <= 1)
		f = 1;
	else if (f <= 2)
		f = 2;
	else if (f <= 5)
		f = 5;
	else
		f = 10;
	return (f * mag);
}

static void
sim_svg_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
			break;
		}
	}
}

static void
sim_svg_steps(const struct sim_svg *g, const uint64_t *t, size_t n,
    const char *color)
{
	double	x, lastx = -1, y;
	size_t	i;

	fprintf(g->f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
	    "d=\"M%.1f,%.1f", color, (double)SVG_L, sim_svg_y(g, 0));
	for (i = 0; i < n; i++) {
		/* Only the last step inside a pixel column is drawn. */
		if (i + 1 < n && sim_svg_x(g, t[i + 1]) - sim_svg_x(g, t[i]) <
		    0.5)
			continue;
		x = sim_svg_x(g, t[i]);
		y = sim_svg_y(g, (double)(i + 1));
		if (x != lastx)
			fprintf(g->f, " H%.1f", x);
		fprintf(g->f, " V%.1f", y);
		lastx = x;
	}
	fprintf(g->f, " H%.1f\"/>\n", (double)(SVG_L + SVG_PW));
}

static int
sim_u64_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

int
sim_write_svg(const struct sim *sim, FILE *f, const char *title)
{
	struct sim_svg	 g;
	const struct sim_rec *r;
	uint64_t	*ready, *ok, *lost, tmax = 0, start, t;
	size_t		 i, nready = 0, nok = 0, nlost = 0, ly;
	double		 step, v, x, y;
	const char	*uname;
	char		 label[64];

	sim_sort(sim);
	ready = xcalloc(sim->nrecs + 1, sizeof(*ready));
	ok = xcalloc(sim->nrecs + 1, sizeof(*ok));
	lost = xcalloc(sim->nrecs + 1, sizeof(*lost));
	for (i = 0; i < sim->nrecs; i++) {
		r = &sim->recs[i];
		start = sim->ri[r->run - 1].start;
		if (r->ready_at >= 0)
			ready[nready++] = start + (uint64_t)r->ready_at;
		if (r->done_at < 0)
			continue;
		t = start + (uint64_t)r->done_at;
		if (r->first_final == SCHED_M_SUCCEEDED ||
		    r->first_final == SCHED_M_PENDING_BOOT)
			ok[nok++] = t;
		else
			lost[nlost++] = t;
		if (t > tmax)
			tmax = t;
	}
	qsort(ready, nready, sizeof(*ready), sim_u64_cmp);
	qsort(ok, nok, sizeof(*ok), sim_u64_cmp);
	qsort(lost, nlost, sizeof(*lost), sim_u64_cmp);
	if (nready > 0 && ready[nready - 1] > tmax)
		tmax = ready[nready - 1];
	for (i = 0; i < sim->nwaves; i++) {
		t = sim->ri[sim->waves[i].run - 1].start +
		    (uint64_t)sim->waves[i].start;
		if (t > tmax)
			tmax = t;
	}
	if (sim->sc->opts.max_wait != SCHED_NEVER && sim->nruns == 1 &&
	    sim->sc->opts.max_wait > tmax)
		tmax = sim->sc->opts.max_wait;
	if (tmax == 0)
		tmax = 1000;

	memset(&g, 0, sizeof(g));
	g.f = f;
	if (tmax <= 1200 * 1000ULL) {
		g.unit = 1000;
		uname = "s";
	} else if (tmax <= 72000 * 1000ULL) {
		g.unit = 60000;
		uname = "min";
	} else {
		g.unit = 3600000;
		uname = "h";
	}
	step = sim_nice_step(tmax / g.unit * 1.02, 8);
	g.xmax = ceil(tmax / g.unit * 1.02 / step) * step;
	g.ymax = (double)(sim->nrecs > 0 ? sim->nrecs : 1);

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
	    "font-size=\"12\">\n", SVG_W, SVG_H, SVG_W, SVG_H);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
	    SVG_W, SVG_H);
	fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"15\" "
	    "font-weight=\"bold\">", SVG_L);
	sim_svg_text(f, title);
	fprintf(f, "</text>\n");

	/* Axes, grid and ticks. */
	for (v = 0; v <= g.xmax + step / 2; v += step) {
		x = SVG_L + v / g.xmax * SVG_PW;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#e6e6e6\"/>\n", x, SVG_T, x, SVG_T + SVG_PH);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
		    "%g</text>\n", x, SVG_T + SVG_PH + 18, v);
	}
	step = sim_nice_step(g.ymax, 6);
	g.ymax = ceil(g.ymax / step) * step;
	for (v = 0; v <= g.ymax + step / 2; v += step) {
		y = sim_svg_y(&g, v);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#e6e6e6\"/>\n", SVG_L, y, SVG_L + SVG_PW, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g"
		    "</text>\n", SVG_L - 6, y + 4, v);
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
	    "fill=\"none\" stroke=\"black\"/>\n", SVG_L, SVG_T, SVG_PW,
	    SVG_PH);
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time "
	    "since the start (%s)</text>\n", SVG_L + SVG_PW / 2, SVG_H - 18,
	    uname);
	fprintf(f, "<text transform=\"translate(18,%d) rotate(-90)\" "
	    "text-anchor=\"middle\">machines (cumulative)</text>\n",
	    SVG_T + SVG_PH / 2);

	/* Markers: max wait and max targets. */
	if (sim->sc->opts.max_wait != SCHED_NEVER && sim->nruns == 1 &&
	    !sim->sc->opts.unicast) {
		x = sim_svg_x(&g, sim->sc->opts.max_wait);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#7f7f7f\" stroke-dasharray=\"2,3\"/>\n", x,
		    SVG_T, x, SVG_T + SVG_PH);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#7f7f7f\" "
		    "text-anchor=\"end\">max wait</text>\n", x - 3,
		    SVG_T + SVG_PH - 6);
	}
	if (sim->sc->opts.max_targets != 0 && !sim->sc->opts.unicast &&
	    sim->sc->opts.max_targets <= g.ymax) {
		y = sim_svg_y(&g, sim->sc->opts.max_targets);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#ff7f0e\" stroke-dasharray=\"2,3\"/>\n", SVG_L,
		    y, SVG_L + SVG_PW, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"#ff7f0e\">max "
		    "targets %" PRIu32 "</text>\n", SVG_L + 4, y - 4,
		    sim->sc->opts.max_targets);
	}

	/* Transfer starts; labelled when there are few. */
	for (i = 0; i < sim->nwaves; i++) {
		t = sim->ri[sim->waves[i].run - 1].start +
		    (uint64_t)sim->waves[i].start;
		x = sim_svg_x(&g, t);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#9467bd\" stroke-dasharray=\"6,4\"/>\n", x,
		    SVG_T, x, SVG_T + SVG_PH);
		if (sim->nwaves <= 12) {
			snprintf(label, sizeof(label), "wave %u: %zu %s",
			    sim->waves[i].index, sim->waves[i].n,
			    sim->waves[i].path == SCHED_PATH_MULTICAST ?
			    "mcast" : "ucast");
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" "
			    "fill=\"#9467bd\" font-size=\"11\">%s</text>\n",
			    x + 3, (double)SVG_T + 14 + 13 * (i % 6), label);
		}
	}

	sim_svg_steps(&g, ready, nready, "#1f77b4");
	sim_svg_steps(&g, ok, nok, "#2ca02c");
	sim_svg_steps(&g, lost, nlost, "#d62728");

	/* Legend. */
	ly = SVG_T + 10;
	x = SVG_L + SVG_PW + 16;
	fprintf(f, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
	    "stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"%.1f\" "
	    "y=\"%zu\">ready (%zu)</text>\n", x, ly, x + 24, ly, x + 30,
	    ly + 4, nready);
	ly += 20;
	fprintf(f, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
	    "stroke=\"#2ca02c\" stroke-width=\"2\"/><text x=\"%.1f\" "
	    "y=\"%zu\">updated (%zu)</text>\n", x, ly, x + 24, ly, x + 30,
	    ly + 4, nok);
	ly += 20;
	fprintf(f, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
	    "stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"%.1f\" "
	    "y=\"%zu\">error/missed/failed (%zu)</text>\n", x, ly, x + 24,
	    ly, x + 30, ly + 4, nlost);
	ly += 20;
	fprintf(f, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
	    "stroke=\"#9467bd\" stroke-dasharray=\"6,4\"/><text x=\"%.1f\" "
	    "y=\"%zu\">transfer start (%zu)</text>\n", x, ly, x + 24, ly,
	    x + 30, ly + 4, sim->nwaves);
	ly += 28;
	fprintf(f, "<text x=\"%.1f\" y=\"%zu\" font-size=\"11\" "
	    "fill=\"#555\">updated: succeeded or</text>\n", x, ly);
	fprintf(f, "<text x=\"%.1f\" y=\"%zu\" font-size=\"11\" "
	    "fill=\"#555\">pending_boot, at the time</text>\n", x, ly + 14);
	fprintf(f, "<text x=\"%.1f\" y=\"%zu\" font-size=\"11\" "
	    "fill=\"#555\">the run was done with it</text>\n", x, ly + 28);
	fprintf(f, "</svg>\n");
	free(ready);
	free(ok);
	free(lost);
	return (ferror(f) ? -1 : 0);
}
