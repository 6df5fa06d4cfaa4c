/*
 * POST /v1/sim: `fleetcast sim` for the web console.  The body carries a
 * scenario and a fleet in the simulator's file formats (as JSON text, so
 * that a parse error names its line, or as objects) and an optional seed;
 * the answer is what the CLI prints (the timeline and the summary), its
 * --json result and its --plot SVG.  The simulator runs on a virtual
 * clock and never sleeps, but it runs on the server's event loop, so the
 * fleet and the number of machine-runs are held to what takes well under
 * a second (API_SIM_MAX_RECORDS); larger plans are for the CLI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_int.h"
#include "sim.h"

#define API_SIM_MAX_RECORDS	200000	/* machines x runs */

/* A field as text: a string is the file's text, an object is dumped. */
static char *
api_sim_text(json_t *body, const char *key)
{
	json_t	*v = json_object_get(body, key);

	if (json_is_string(v))
		return (strdup(json_string_value(v)));
	if (json_is_object(v))
		return (json_dumps(v, 0));
	return (NULL);
}

/* The text a stream wrote, as a JSON string (NULL if it failed). */
static json_t *
api_sim_close(FILE *f, char **buf, size_t *len)
{
	json_t	*s;

	if (f == NULL)
		return (NULL);
	if (fclose(f) != 0) {
		free(*buf);
		return (NULL);
	}
	s = json_stringn_nocheck(*buf, *len);
	free(*buf);
	return (s);
}

json_t *
api_sim_run(json_t *body, int *status, char *err, size_t errlen)
{
	struct sim_scenario	 sc;
	struct sim_fleet	 fl;
	struct sim		*sim;
	json_t			*v, *o = NULL, *res, *tl, *sum, *svg;
	json_error_t		 je;
	char			*stext, *ftext, *tbuf = NULL, *jbuf = NULL;
	char			*sbuf = NULL, *pbuf = NULL;
	size_t			 tlen = 0, jlen = 0, slen = 0, plen = 0;
	FILE			*tf, *jf, *sf, *pf;
	uint64_t		 seed = 1, records;
	char			 title[128];

	memset(&fl, 0, sizeof(fl));
	*status = 422;
	stext = api_sim_text(body, "scenario");
	ftext = api_sim_text(body, "fleet");
	if (stext == NULL || ftext == NULL) {
		snprintf(err, errlen, "%s: the simulator's JSON (text or an "
		    "object) is needed", stext == NULL ? "scenario" : "fleet");
		goto out;
	}
	if ((v = json_object_get(body, "seed")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(err, errlen, "seed: must be a whole number "
			    "from 0");
			goto out;
		}
		seed = (uint64_t)json_integer_value(v);
	}
	if (sim_scenario_parse(stext, "scenario", &sc, err, errlen) == -1 ||
	    sim_fleet_parse(ftext, "fleet", &fl, err, errlen) == -1 ||
	    sim_check(&sc, &fl, "scenario", err, errlen) == -1)
		goto out;
	records = (uint64_t)fl.n * (sc.runs > 0 ? sc.runs : 1);
	if (records > API_SIM_MAX_RECORDS) {
		snprintf(err, errlen, "fleet: %zu machines x %u runs, limit %d "
		    "in the console (the server's loop runs it); use "
		    "'fleetcast sim' for more", fl.n, sc.runs > 0 ? sc.runs : 1,
		    API_SIM_MAX_RECORDS);
		goto out;
	}
	tf = open_memstream(&tbuf, &tlen);
	jf = open_memstream(&jbuf, &jlen);
	sf = open_memstream(&sbuf, &slen);
	pf = open_memstream(&pbuf, &plen);
	sim = sim_new(&sc, &fl, seed, tf, 1);
	sim_run(sim);
	snprintf(title, sizeof(title), "fleetcast sim: %zu machines, seed %llu",
	    fl.n, (unsigned long long)seed);
	if (jf != NULL)
		sim_write_json(sim, jf);
	if (sf != NULL)
		sim_print_summary(sim, sf);
	if (pf != NULL)
		sim_write_svg(sim, pf, title);
	sim_free(sim);
	tl = api_sim_close(tf, &tbuf, &tlen);
	sum = api_sim_close(sf, &sbuf, &slen);
	svg = api_sim_close(pf, &pbuf, &plen);
	res = NULL;
	if ((v = api_sim_close(jf, &jbuf, &jlen)) != NULL) {
		res = json_loads(json_string_value(v), 0, &je);
		json_decref(v);
	}
	if (tl == NULL || sum == NULL || svg == NULL || res == NULL) {
		json_decref(tl);
		json_decref(sum);
		json_decref(svg);
		json_decref(res);
		*status = 500;
		snprintf(err, errlen, "sim: out of memory for its output");
		goto out;
	}
	o = json_pack("{s:I, s:o, s:o, s:o, s:o}", "seed", (json_int_t)seed,
	    "timeline", tl, "summary", sum, "result", res, "svg", svg);
out:
	sim_fleet_free(&fl);
	free(stext);
	free(ftext);
	return (o);
}
