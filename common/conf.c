/*
 * The config parser.  Values are kept as strings (the form the admin wrote)
 * and checked on every set; getters convert them.  Each value remembers
 * where it came from so that later semantic errors can point at it too.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "log.h"
#include "xmalloc.h"

#define CONF_LINE_MAX	4096

struct conf {
	const struct conf_def	*defs;
	size_t			 ndefs;
	char			**vals;
	char			**where;
	int			*fromfile;	/* line number, to catch repeats */
};

static const char *bool_yes[] = { "yes", "true", "on", "1", NULL };
static const char *bool_no[] = { "no", "false", "off", "0", NULL };

struct conf *
conf_new(const struct conf_def *defs)
{
	struct conf	*c;
	size_t		 i;

	c = xcalloc(1, sizeof(*c));
	c->defs = defs;
	while (defs[c->ndefs].key != NULL)
		c->ndefs++;
	c->vals = xcalloc(c->ndefs + 1, sizeof(*c->vals));
	c->where = xcalloc(c->ndefs + 1, sizeof(*c->where));
	c->fromfile = xcalloc(c->ndefs + 1, sizeof(*c->fromfile));
	for (i = 0; i < c->ndefs; i++) {
		if (defs[i].def != NULL) {
			c->vals[i] = xstrdup(defs[i].def);
			c->where[i] = xstrdup("default");
		}
	}
	return (c);
}

void
conf_free(struct conf *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ndefs; i++) {
		free(c->vals[i]);
		free(c->where[i]);
	}
	free(c->vals);
	free(c->where);
	free(c->fromfile);
	free(c);
}

static ssize_t
conf_index(const struct conf *c, const char *key)
{
	size_t	i;

	for (i = 0; i < c->ndefs; i++)
		if (strcmp(c->defs[i].key, key) == 0)
			return ((ssize_t)i);
	return (-1);
}

int
conf_has_key(const struct conf *c, const char *key)
{
	return (conf_index(c, key) != -1);
}

static int
word_in(const char *w, const char **list)
{
	for (; *list != NULL; list++)
		if (strcasecmp(w, *list) == 0)
			return (1);
	return (0);
}

/* Split "host:port" or "[v6]:port"; the port must be 1-65535. */
int
parse_hostport(const char *s, char **host, uint16_t *port)
{
	const char	*colon, *h, *he;
	char		*end;
	long		 p;

	if (s[0] == '[') {
		if ((he = strchr(s, ']')) == NULL || he[1] != ':')
			return (-1);
		h = s + 1;
		colon = he + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return (-1);
		h = s;
		he = colon;
	}
	if (he == h)
		return (-1);
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 1 ||
	    p > 65535)
		return (-1);
	if (host != NULL)
		*host = xstrndup(h, he - h);
	if (port != NULL)
		*port = (uint16_t)p;
	return (0);
}

/*
 * A bit rate as every rate flag and key takes it (the server's `rate`,
 * `fleetcast send --rate`): "auto" (0), or a decimal number of bits per
 * second, fractions allowed, with an optional k, M, G or T (powers of
 * 1000; lower case too, as tc and udp-sender write them: there are no
 * milli-bits) and an optional "bit", "bit/s" or "bps" after it, so that
 * 2.5G, 500m, 500mbit and 1gbit/s all work.  From 8 kbit/s to 1 Pbit/s.
 * The result is in bytes per second.
 */
int
parse_rate(const char *s, uint64_t *bytes_per_s, char *err, size_t errlen)
{
	static const char	 sfx[] = "kmgt";
	static const double	 mult[] = { 1e3, 1e6, 1e9, 1e12 };
	const char		*p;
	char			*end;
	double			 v;

	if (strcmp(s, "auto") == 0) {
		*bytes_per_s = 0;
		return (0);
	}
	errno = 0;
	v = strtod(s, &end);
	/* strtod takes hex, inf and nan too: digits and one dot only. */
	for (p = s; p < end; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			goto bad;
	if (end == s || errno != 0)
		goto bad;
	if (*end != '\0' && (p = strchr(sfx, tolower((unsigned char)*end))) !=
	    NULL) {
		v *= mult[p - sfx];
		end++;
	}
	if (*end != '\0' && strcasecmp(end, "bit") != 0 &&
	    strcasecmp(end, "bit/s") != 0 && strcasecmp(end, "bps") != 0)
		goto bad;
	if (!(v >= 8e3 && v <= 1e15)) {
		snprintf(err, errlen, "'%s' is out of range: from 8k to 1000T "
		    "bits per second", s);
		return (-1);
	}
	*bytes_per_s = (uint64_t)(v / 8);
	return (0);
bad:
	snprintf(err, errlen, "'%s' is not auto or a rate in bits per second "
	    "such as 500M, 2.5G or 800mbit (k, M, G, T: powers of 1000)", s);
	return (-1);
}

int
conf_check_value(const struct conf_def *d, const char *val, char *err,
    size_t errlen)
{
	char		*end;
	long long	 n;
	const char	*p, *q;
	size_t		 len;

	switch (d->type) {
	case CONF_STRING:
		if (val[0] == '\0') {
			snprintf(err, errlen, "%s: empty value", d->key);
			return (-1);
		}
		return (0);
	case CONF_INT:
		errno = 0;
		n = strtoll(val, &end, 10);
		if (val[0] == '\0' || *end != '\0' || errno != 0) {
			snprintf(err, errlen, "%s: '%s' is not a whole number",
			    d->key, val);
			return (-1);
		}
		if (n < d->min || n > d->max) {
			snprintf(err, errlen, "%s: %lld is out of range "
			    "(%" PRId64 " to %" PRId64 ")", d->key, n, d->min,
			    d->max);
			return (-1);
		}
		return (0);
	case CONF_BOOL:
		if (word_in(val, bool_yes) || word_in(val, bool_no))
			return (0);
		snprintf(err, errlen, "%s: '%s' is not yes or no", d->key, val);
		return (-1);
	case CONF_HOSTPORT:
		if (parse_hostport(val, NULL, NULL) == 0)
			return (0);
		snprintf(err, errlen, "%s: '%s' is not host:port (port 1-65535)",
		    d->key, val);
		return (-1);
	case CONF_ENUM:
		len = strlen(val);
		for (p = d->choices; *p != '\0'; p = *q ? q + 1 : q) {
			q = strchr(p, '|');
			if (q == NULL)
				q = p + strlen(p);
			if ((size_t)(q - p) == len && strncmp(p, val, len) == 0)
				return (0);
		}
		snprintf(err, errlen, "%s: '%s' is not one of %s", d->key, val,
		    d->choices);
		return (-1);
	}
	fatalx("conf_check_value: bad type %d", d->type);
}

int
conf_set(struct conf *c, const char *key, const char *val, const char *where,
    char *err, size_t errlen)
{
	char	 msg[512];
	ssize_t	 i;

	if ((i = conf_index(c, key)) == -1) {
		snprintf(err, errlen, "%s: unknown key '%s'", where, key);
		return (-1);
	}
	if (conf_check_value(&c->defs[i], val, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", where, msg);
		return (-1);
	}
	free(c->vals[i]);
	free(c->where[i]);
	c->vals[i] = xstrdup(val);
	c->where[i] = xstrdup(where);
	return (0);
}

/* Trim spaces at both ends, in place. */
static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return (s);
}

/*
 * One line of a file: 0 for a blank or comment line, 1 with key and val
 * set (pointers into line, which is changed), -1 with err set (without the
 * file:line, which the caller puts in front).
 */
static int
conf_line(char *line, char **keyp, char **valp, char *err, size_t errlen)
{
	char	*key, *val, *eq, *e;

	key = trim(line);
	if (*key == '\0' || *key == '#')
		return (0);
	if ((eq = strchr(key, '=')) == NULL) {
		snprintf(err, errlen, "expected 'key = value'");
		return (-1);
	}
	*eq = '\0';
	key = trim(key);
	val = trim(eq + 1);
	if (*val == '"') {
		/* A quoted value may hold '#' and keeps its spaces. */
		if ((e = strchr(val + 1, '"')) == NULL) {
			snprintf(err, errlen, "%s: unterminated quote", key);
			return (-1);
		}
		*e = '\0';
		if (*trim(e + 1) != '\0' && *trim(e + 1) != '#') {
			snprintf(err, errlen, "%s: text after the closing "
			    "quote", key);
			return (-1);
		}
		val++;
	} else {
		if ((e = strchr(val, '#')) != NULL)
			*e = '\0';
		val = trim(val);
	}
	*keyp = key;
	*valp = val;
	return (1);
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	FILE	*f;
	char	 line[CONF_LINE_MAX + 2], where[512], msg[256], *key, *val;
	int	 lineno = 0, rv = -1;
	ssize_t	 i;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s: line longer than %d bytes",
			    where, CONF_LINE_MAX);
			goto out;
		}
		switch (conf_line(line, &key, &val, msg, sizeof(msg))) {
		case -1:
			snprintf(err, errlen, "%s: %s", where, msg);
			goto out;
		case 0:
			continue;
		}
		if ((i = conf_index(c, key)) != -1 && c->fromfile[i] != 0) {
			snprintf(err, errlen, "%s: %s: set twice (first on line "
			    "%d)", where, key, c->fromfile[i]);
			goto out;
		}
		if (conf_set(c, key, val, where, err, errlen) == -1)
			goto out;
		c->fromfile[i] = lineno;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rv = 0;
out:
	fclose(f);
	return (rv);
}

/*
 * The value of one key in another program's file (the CLI reading the
 * server's state_dir and api_listen on the server's host), read by the
 * same line rules; a copy, or NULL when the file cannot be read or does
 * not set the key.  Nothing is checked: that program checks its file.
 */
char *
conf_peek(const char *path, const char *want)
{
	FILE	*f;
	char	 line[CONF_LINE_MAX + 2], msg[256], *key, *val, *out = NULL;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		if (conf_line(line, &key, &val, msg, sizeof(msg)) == 1 &&
		    strcmp(key, want) == 0) {
			free(out);
			out = xstrdup(val);
		}
	fclose(f);
	return (out);
}

/*
 * Apply `--key value` pairs (or `--key=value`) from argv.  Every element
 * must be such a pair: the caller has already taken its own flags out.
 */
int
conf_args(struct conf *c, int argc, char **argv, char *err, size_t errlen)
{
	char	 where[256], *key, *val, *eq;
	int	 i, rv;

	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
			snprintf(err, errlen, "unexpected argument '%s'",
			    argv[i]);
			return (-1);
		}
		key = xstrdup(argv[i] + 2);
		if ((eq = strchr(key, '=')) != NULL) {
			*eq = '\0';
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			snprintf(err, errlen, "--%s: needs a value", key);
			free(key);
			return (-1);
		}
		snprintf(where, sizeof(where), "--%s", key);
		rv = conf_set(c, key, val, where, err, errlen);
		free(key);
		if (rv == -1)
			return (-1);
	}
	return (0);
}

const char *
conf_str(const struct conf *c, const char *key)
{
	ssize_t	i;

	if ((i = conf_index(c, key)) == -1)
		fatalx("conf_str: no key %s", key);
	return (c->vals[i]);
}

const char *
conf_where(const struct conf *c, const char *key)
{
	ssize_t	i;

	if ((i = conf_index(c, key)) == -1)
		fatalx("conf_where: no key %s", key);
	return (c->where[i] != NULL ? c->where[i] : "unset");
}

int64_t
conf_int(const struct conf *c, const char *key)
{
	const char	*v;

	if ((v = conf_str(c, key)) == NULL)
		return (0);
	return (strtoll(v, NULL, 10));
}

int
conf_bool(const struct conf *c, const char *key)
{
	const char	*v;

	if ((v = conf_str(c, key)) == NULL)
		return (0);
	return (word_in(v, bool_yes));
}
