/*
 * Configuration files of `key = value` lines with # comments.  Each program
 * describes its keys in a table of conf_def; values are checked against
 * their type when set, so that every error names the file and line (or the
 * command-line flag) and the rule that was broken.  Any key can also be
 * given as `--key value` on the command line, overriding the file.
 */
#ifndef FC_CONF_H
#define FC_CONF_H

#include <stddef.h>
#include <stdint.h>

enum conf_type {
	CONF_STRING,
	CONF_INT,
	CONF_BOOL,
	CONF_HOSTPORT,		/* host:port, port 1-65535 */
	CONF_ENUM,		/* one of choices, "a|b|c" */
};

struct conf_def {
	const char	*key;
	enum conf_type	 type;
	const char	*def;		/* NULL: unset by default */
	int64_t		 min, max;	/* CONF_INT */
	const char	*choices;	/* CONF_ENUM */
};

struct conf;

struct conf	*conf_new(const struct conf_def *);
void		 conf_free(struct conf *);
int		 conf_load(struct conf *, const char *, char *, size_t);
char		*conf_peek(const char *, const char *);
int		 conf_set(struct conf *, const char *, const char *,
		    const char *, char *, size_t);
int		 conf_args(struct conf *, int, char **, char *, size_t);
int		 conf_has_key(const struct conf *, const char *);
const char	*conf_str(const struct conf *, const char *);
int64_t		 conf_int(const struct conf *, const char *);
int		 conf_bool(const struct conf *, const char *);
const char	*conf_where(const struct conf *, const char *);
int		 conf_check_value(const struct conf_def *, const char *, char *,
		    size_t);
int		 parse_hostport(const char *, char **, uint16_t *);
int		 parse_rate(const char *, uint64_t *, char *, size_t);

#endif
