/*
 * How the CLI prints what the API answered: the JSON itself (--json), or
 * its values as text for tables, with "-" for what is missing or null.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli.h"

/* The answer as it came, indented, for --json. */
void
show_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

/* A string member for a table: "-" when it is missing or null. */
const char *
show_str(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return ("-");
	if (json_is_string(v))
		return (json_string_value(v));
	return ("?");
}

/* Any member as text: numbers, yes/no, compact JSON for the rest. */
void
show_val(json_t *o, const char *key, char *buf, size_t len)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		snprintf(buf, len, "-");
	else if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(buf, len, "%s", s != NULL ? s : "?");
		free(s);
	}
}

/* 1536 as "1.5 KiB", below 1 KiB in bytes. */
void
show_bytes(uint64_t n, char *buf, size_t len)
{
	const char	*u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double		 v = (double)n;
	int		 i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else
		snprintf(buf, len, "%.1f %s", v, u[i]);
}

/* Print every key of a flat object as "key: value". */
void
show_object(json_t *o)
{
	const char	*k;
	json_t		*v;
	char		 buf[2048];

	json_object_foreach(o, k, v) {
		show_val(o, k, buf, sizeof(buf));
		printf("%-20s %s\n", k, buf);
	}
}
