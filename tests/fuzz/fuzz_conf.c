/*
 * Fuzz target for configuration files (common/conf.c): fleetcastd.conf
 * and fleetcast-agent.conf are edited by hand.  The input is the file,
 * loaded against keys of every type (string, whole number with a range,
 * yes/no, host:port, one of a list), as the programs' own tables declare
 * them.  A file that loads must give, for each key set, a value that
 * passes its own check again, and conf_peek must read the same string; a
 * file that does not load must say why.  rate values also go through
 * parse_rate, as the server reads them.
 */
#include "conf.h"

#define FUZZ_NAME	"conf"
#define FUZZ_MAX_LEN	(1 << 16)
#include "fuzz.h"

static const struct conf_def defs[] = {
	{ "state_dir", CONF_STRING, "/var/lib/fleetcast", 0, 0, NULL },
	{ "server", CONF_HOSTPORT, NULL, 0, 0, NULL },
	{ "control_listen", CONF_HOSTPORT, "0.0.0.0:56022", 0, 0, NULL },
	{ "data_port", CONF_INT, "56001", 1, 65535, NULL },
	{ "exec_timeout", CONF_INT, "3600", 1, 7 * 24 * 3600, NULL },
	{ "on_concurrency_limit", CONF_ENUM, "queue", 0, 0, "queue|error" },
	{ "auto_approve", CONF_BOOL, "no", 0, 0, NULL },
	{ "rate", CONF_STRING, "auto", 0, 0, NULL },
	{ NULL, CONF_STRING, NULL, 0, 0, NULL },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf		*c;
	const struct conf_def	*d;
	const char		*path, *v;
	char			 err[1024], *peek;
	uint64_t		 rate;

	path = fuzz_file("fuzz.conf", data, size);
	c = conf_new(defs);
	err[0] = '\0';
	if (conf_load(c, path, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			fuzz_die("a file was refused without a message");
		conf_free(c);
		return (0);
	}
	for (d = defs; d->key != NULL; d++) {
		if ((v = conf_str(c, d->key)) == NULL)
			continue;
		if (conf_check_value(d, v, err, sizeof(err)) == -1)
			fuzz_die("%s = '%s' was taken but fails its check: %s",
			    d->key, v, err);
		if (strcmp(conf_where(c, d->key), "default") != 0) {
			peek = conf_peek(path, d->key);
			if (peek == NULL || strcmp(peek, v) != 0)
				fuzz_die("conf_peek reads %s otherwise", d->key);
			free(peek);
		}
		if (d->type == CONF_INT)
			(void)conf_int(c, d->key);
		if (d->type == CONF_BOOL)
			(void)conf_bool(c, d->key);
	}
	if ((v = conf_str(c, "rate")) != NULL)
		(void)parse_rate(v, &rate, err, sizeof(err));
	conf_free(c);
	return (0);
}
