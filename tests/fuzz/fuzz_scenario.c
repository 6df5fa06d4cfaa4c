/*
 * Fuzz target for the API's scenario bodies (scenario_parse in
 * server/scenario.c): POST /api/v1/scenarios hands the client's JSON to it
 * once the token is checked.  The input is the body, read as the API
 * reads it (json_loads, duplicates refused, an object only).  A scenario
 * that passes must survive the database's round trip: scenario_to_json,
 * scenario_from_json, scenario_to_json again give the same JSON.  The
 * body is also read as if it were a stored snapshot (scenario_from_json
 * on what the database gives back), which must not crash either.
 */
#include <jansson.h>

#include "server.h"

#define FUZZ_NAME	"scenario"
#define FUZZ_MAX_LEN	(1 << 16)
#include "fuzz.h"

static void
clear(struct scenario *sc)
{
	size_t	i;

	for (i = 0; i < sc->npackages; i++)
		free(sc->packages[i]);
	sc->npackages = 0;
}

static void
check_round_trip(const struct scenario *sc)
{
	struct scenario	 sc2;
	json_t		*j1, *j2;
	char		*s;

	if ((j1 = scenario_to_json(sc)) == NULL)
		fuzz_die("a parsed scenario has no JSON form");
	if (scenario_from_json(j1, &sc2) == -1)
		fuzz_die("scenario_from_json refuses scenario_to_json's form");
	if ((j2 = scenario_to_json(&sc2)) == NULL || !json_equal(j1, j2)) {
		s = json_dumps(j1, JSON_SORT_KEYS);
		fuzz_die("scenario %s changes through the database", s);
	}
	json_decref(j1);
	json_decref(j2);
	clear(&sc2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario	 sc;
	json_error_t	 je;
	json_t		*o, *warn, *j;
	char		*s, err[1024];

	s = fuzz_str(data, size);
	o = json_loads(s, JSON_REJECT_DUPLICATES, &je);
	free(s);
	if (o == NULL)
		return (0);
	if (json_is_object(o)) {
		warn = json_array();
		err[0] = '\0';
		if (scenario_parse(o, &sc, warn, err, sizeof(err)) == 0)
			check_round_trip(&sc);
		else if (err[0] == '\0')
			fuzz_die("a scenario was refused without a message");
		clear(&sc);
		json_decref(warn);
	}
	if (scenario_from_json(o, &sc) == 0) {
		if ((j = scenario_to_json(&sc)) == NULL)
			fuzz_die("a stored scenario has no JSON form");
		json_decref(j);
	}
	clear(&sc);
	json_decref(o);
	return (0);
}
