/*
 * Tests for automatic update (server/auto.c, MISSION.md P5, P11; issue
 * #15) against a real inventory in a scratch directory, with the runs
 * replaced by a recorder (the test defines runs_create_sc and
 * runs_machine_busy, so the linker takes those) and the wall clock by a
 * fake one.  Checks: the newest applicable service pack is chosen, not
 * the newest one (SP9 --os plan9 beside SP5); one refused in this boot,
 * or refused by the agent in any boot, gives way to the next; a
 * registered SPB that supersedes SPA stands for SPA as a base service
 * pack and in conditions; a bare machine gets the predecessor first; the
 * start pass runs at once and gathers the machines that follow into one
 * run; the daily pass fires at auto_update_time on the fake clock, sends
 * only urgency high, and is armed again for the next day, across a DST
 * change too.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "conf.h"
#include "db_int.h"
#include "pkg.h"
#include "server.h"
#include "unit.h"
#include "unit_tmp.h"
#include "wire.h"
#include "xmalloc.h"

/* The runs auto.c started, as the recorder saw them. */
#define MAX_RUNS	16
static struct {
	char	pkg[64];
	char	machines[256];	/* "vm1 vm2" */
} runs_made[MAX_RUNS];
static size_t		nruns;
static const char	*busy_machine, *busy_pkg;

int
runs_create_sc(struct runs *rs, struct scenario *sc, char **machines,
    size_t n, uint64_t *idp, char *err, size_t errlen, int *status)
{
	size_t	i;

	(void)rs;
	(void)err;
	(void)errlen;
	*status = 201;
	CU_ASSERT_FATAL(nruns < MAX_RUNS);
	CU_ASSERT_EQUAL(sc->npackages, 1);
	CU_ASSERT(strncmp(sc->name, "auto-", 5) == 0);
	snprintf(runs_made[nruns].pkg, sizeof(runs_made[nruns].pkg), "%s",
	    sc->packages[0]);
	runs_made[nruns].machines[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(runs_made[nruns].machines, " ");
		strcat(runs_made[nruns].machines, machines[i]);
	}
	free(sc->packages[0]);
	memset(sc, 0, sizeof(*sc));
	*idp = ++nruns;
	return (0);
}

int
runs_machine_busy(struct runs *rs, const char *machine, const char *pkg)
{
	(void)rs;
	return (busy_machine != NULL && strcmp(machine, busy_machine) == 0 &&
	    strcmp(pkg, busy_pkg) == 0);
}

static uint64_t	fake_ms;

static uint64_t
fake_clock(void)
{
	return (fake_ms);
}

static const struct conf_def defs[] = {
	{ "auto_update_time", CONF_STRING, "03:00", 0, 0, NULL },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static struct server	srv;

static void
setup(void)
{
	char	err[512];

	CU_ASSERT_FATAL(unit_tmpdir("test_auto") == 0);
	memset(&srv, 0, sizeof(srv));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv.base = event_base_new());
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv.conf = conf_new(defs));
	srv.db = db_open(unit_path("fleetcast.db"), err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv.db);
	srv.autoupd = auto_new(&srv, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv.autoupd);
	nruns = 0;
	busy_machine = busy_pkg = NULL;
}

static void
teardown(void)
{
	auto_free(srv.autoupd);
	db_close(srv.db);
	conf_free(srv.conf);
	event_base_free(srv.base);
	CU_ASSERT(unit_tmpdir_remove() == 0);
}

/*
 * Register a package as package add would: its signed manifest's bytes
 * (the signature does not matter here) and JSON.  os, base, sup and req
 * may be NULL.
 */
static void
put(const char *id, enum pkg_type type, const char *urgency, uint16_t major,
    const char *os, const char *base, const char *sup, const char *req)
{
	struct pkg_manifest	m;
	struct db_package_rec	r;
	struct wire_w		w;
	uint8_t			sig[ED25519_SIG_LEN] = { 1 }, sha[SHA256_LEN];
	char			err[256], file[128], *js;
	json_t			*o;

	pkg_manifest_init(&m);
	snprintf(m.id, sizeof(m.id), "%s", id);
	m.type = type;
	CU_ASSERT_FATAL(pkg_field_parse_urgency("u", urgency, &m.urgency, err,
	    sizeof(err)) == 0);
	m.has_version = 1;
	m.major = major;
	snprintf(m.company, sizeof(m.company), "test");
	m.exec = xstrdup("setup.sh");
	CU_ASSERT_FATAL(os == NULL || pkg_field_list_add("os", &m.os, os,
	    PKG_LIST_MAX, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(sup == NULL || pkg_field_list_add("supersedes",
	    &m.supersedes, sup, PKG_LIST_MAX, err, sizeof(err)) == 0);
	if (base != NULL)
		snprintf(m.base_sp, sizeof(m.base_sp), "%s", base);
	if (req != NULL) {
		m.requires = xcalloc(1, sizeof(*m.requires));
		CU_ASSERT_FATAL(pkg_cond_parse("r", req, &m.requires[0], err,
		    sizeof(err)) == 0);
		m.nrequires = 1;
	}
	memset(&w, 0, sizeof(w));
	wire_w_grow(&w, 4096);
	pkg_manifest_encode(&m, &w);
	o = pkg_manifest_to_json(&m);
	js = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	memset(sha, 2, sizeof(sha));
	snprintf(file, sizeof(file), "packages/%s.fcpkg", id);
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.type = pkg_field_type_name(type);
	r.urgency = urgency;
	r.has_version = 1;
	r.major = major;
	r.key_id = "0011223344556677";
	r.manifest = w.buf;
	r.manifest_len = w.len;
	r.signature = sig;
	r.manifest_json = js;
	r.file = file;
	r.size = 100;
	r.sha256 = sha;
	CU_ASSERT_FATAL(db_package_put(srv.db, &r, 1) == 0);
	free(js);
	wire_w_free(&w);
	pkg_manifest_free(&m);
}

/* An enrolled machine online in boot BOOT with these facts (JSON). */
static void
machine(const char *name, const char *boot, const char *facts)
{
	char	fp[65];

	memset(fp, 'a', 64);
	fp[64] = '\0';
	fp[0] = name[strlen(name) - 1];
	CU_ASSERT(db_machine_request(srv.db, name, "CSR", fp, "192.0.2.1",
	    1) == 0);
	CU_ASSERT(db_machine_enrolled(srv.db, name, fp, 2) == 0);
	CU_ASSERT(db_machine_online(srv.db, name, 1, "192.0.2.1", "lo", boot,
	    3) == 0);
	CU_ASSERT(db_machine_facts(srv.db, name, facts) == 0);
}

#define DEBIAN	"\"os.id\":\"debian\",\"os.version_id\":\"12\""

static int
made(const char *pkg, const char *machines)
{
	size_t	i;

	for (i = 0; i < nruns; i++)
		if (strcmp(runs_made[i].pkg, pkg) == 0 &&
		    strcmp(runs_made[i].machines, machines) == 0)
			return (1);
	return (0);
}

/* vm1 and vm2 start together; both passes (at once, gathered) run. */
static void
start_both(void)
{
	auto_machine_started(srv.autoupd, "vm1");
	auto_machine_started(srv.autoupd, "vm2");
	event_base_loop(srv.base, EVLOOP_ONCE);
}

/* Issue #15: SP9 does not apply (plan9), SP5 does: SP5 it is. */
static void
test_newest_applicable(void)
{
	setup();
	put("SP9", PKG_SERVICEPACK, "high", 9, "plan9", NULL, NULL, NULL);
	put("SP5", PKG_SERVICEPACK, "high", 5, NULL, NULL, NULL, NULL);
	machine("vm1", "b1", "{" DEBIAN "}");
	auto_machine_started(srv.autoupd, "vm1");
	CU_ASSERT_EQUAL(nruns, 1);
	CU_ASSERT(made("SP5", "vm1"));
	CU_ASSERT(!made("SP9", "vm1"));
	/* Tried once per boot: the same start again sends nothing. */
	event_base_loop(srv.base, EVLOOP_ONCE);
	auto_machine_started(srv.autoupd, "vm1");
	event_base_loop(srv.base, EVLOOP_ONCE);
	CU_ASSERT_EQUAL(nruns, 1);
	teardown();
}

/* The agent refused SP9 in this boot (it knew better): SP5 next. */
static void
test_refused_falls_back(void)
{
	setup();
	put("SP9", PKG_SERVICEPACK, "high", 9, NULL, NULL, NULL, NULL);
	put("SP5", PKG_SERVICEPACK, "high", 5, NULL, NULL, NULL, NULL);
	machine("vm1", "b1", "{" DEBIAN "}");
	CU_ASSERT(db_auto_attempt(srv.db, "vm1", "SP9", "b1", 7, 1) == 0);
	auto_machine_started(srv.autoupd, "vm1");
	CU_ASSERT_EQUAL(nruns, 1);
	CU_ASSERT(made("SP5", "vm1"));
	teardown();
	/* While SP9 is being sent, nothing else: it is the one it gets. */
	setup();
	put("SP9", PKG_SERVICEPACK, "high", 9, NULL, NULL, NULL, NULL);
	put("SP5", PKG_SERVICEPACK, "high", 5, NULL, NULL, NULL, NULL);
	machine("vm1", "b1", "{" DEBIAN "}");
	busy_machine = "vm1";
	busy_pkg = "SP9";
	auto_machine_started(srv.autoupd, "vm1");
	CU_ASSERT_EQUAL(nruns, 0);
	teardown();
}

/*
 * An automatic run of package on machine that its agent refused (state
 * error, the agent's "ID: not applicable: ..."), in boot.
 */
static void
refused_run(uint64_t run, const char *machine, const char *package,
    const char *boot, const char *error)
{
	CU_ASSERT(db_exec(srv.db, "INSERT INTO runs (id, scenario, spec, "
	    "state, grp, port, data_key, created_at) VALUES (?, 'auto', '{}', "
	    "'finished', '239.1.1.1', 56001, x'00', 1)", "u", run) != -1);
	CU_ASSERT(db_exec(srv.db, "INSERT INTO run_machines (run_id, machine, "
	    "pos, state, error, updated_at) VALUES (?, ?, 0, 'error', ?, 1)",
	    "uss", run, machine, error) != -1);
	CU_ASSERT(db_auto_attempt(srv.db, machine, package, boot, run, 1) ==
	    0);
}

/*
 * Refused by the agent in an earlier boot (what the facts do not show: a
 * version that ran here): not again at the next start, SP5 instead.  A
 * failure (not a refusal) is tried again in a new boot.
 */
static void
test_refused_any_boot(void)
{
	char	why[256];

	setup();
	put("SP7", PKG_SERVICEPACK, "high", 7, NULL, NULL, NULL, NULL);
	put("SP5", PKG_SERVICEPACK, "high", 5, NULL, NULL, NULL, NULL);
	machine("vm1", "b2", "{" DEBIAN "}");
	machine("vm2", "b2", "{" DEBIAN "}");
	refused_run(3, "vm1", "SP7", "b1", "SP7: not applicable: version: "
	    "'SP7' 7.0 has run here already");
	refused_run(4, "vm2", "SP7", "b1", "SP7: exit status 1");
	CU_ASSERT(db_auto_refused(srv.db, "vm1", "SP7", why,
	    sizeof(why)) == 1);
	CU_ASSERT_STRING_EQUAL(why, "refused by its agent in run 3: version: "
	    "'SP7' 7.0 has run here already");
	CU_ASSERT(db_auto_refused(srv.db, "vm2", "SP7", why,
	    sizeof(why)) == 0);
	CU_ASSERT(db_auto_refused(srv.db, "vm1", "SP5", why,
	    sizeof(why)) == 0);
	start_both();
	CU_ASSERT_EQUAL(nruns, 2);
	CU_ASSERT(made("SP5", "vm1"));
	CU_ASSERT(made("SP7", "vm2"));
	teardown();
}

/* Issue #15: a machine holding SPB (supersedes SPA) gets SPC (base SPA). */
static void
test_base_superseded(void)
{
	setup();
	put("SPB", PKG_SERVICEPACK, "normal", 2, NULL, NULL, "SPA", NULL);
	put("SPC", PKG_SERVICEPACK, "high", 3, NULL, "SPA", NULL, NULL);
	/* A pkg.SPA condition holds there too. */
	put("HF1", PKG_HOTFIX, "high", 1, NULL, NULL, NULL, "pkg.SPA exists");
	machine("vm1", "b1", "{" DEBIAN ",\"pkg.SPB\":\"2.0\"}");
	machine("vm2", "b1", "{" DEBIAN "}");
	start_both();
	CU_ASSERT_EQUAL(nruns, 2);
	CU_ASSERT(made("SPC", "vm1"));
	CU_ASSERT(made("HF1", "vm1"));
	teardown();
}

/* P11: SP3 needs SP1 or SP2; bare gets SP2 first, then SP3. */
static void
test_predecessor_first(void)
{
	setup();
	put("SP2", PKG_SERVICEPACK, "high", 2, NULL, NULL, "SP1", NULL);
	put("SP3", PKG_SERVICEPACK, "high", 3, NULL, "SP1", "SP2", NULL);
	machine("vm1", "b1", "{" DEBIAN "}");
	auto_machine_started(srv.autoupd, "vm1");
	CU_ASSERT_EQUAL(nruns, 1);
	CU_ASSERT(made("SP2", "vm1"));
	/* It restarts with SP2. */
	CU_ASSERT(db_machine_online(srv.db, "vm1", 1, "192.0.2.1", "lo", "b2",
	    4) == 0);
	CU_ASSERT(db_machine_facts(srv.db, "vm1", "{" DEBIAN
	    ",\"pkg.SP2\":\"2.0\"}") == 0);
	event_base_loop(srv.base, EVLOOP_ONCE);	/* the gathering moment */
	auto_machine_started(srv.autoupd, "vm1");
	event_base_loop(srv.base, EVLOOP_ONCE);
	CU_ASSERT_EQUAL(nruns, 2);
	CU_ASSERT(made("SP3", "vm1"));
	teardown();
}

/* The first start goes at once; those right after share one run. */
static void
test_start_gathered(void)
{
	setup();
	put("HF1", PKG_HOTFIX, "highest", 1, NULL, NULL, NULL, NULL);
	machine("vm1", "b1", "{" DEBIAN "}");
	machine("vm2", "b1", "{" DEBIAN "}");
	machine("vm3", "b1", "{" DEBIAN "}");
	auto_machine_started(srv.autoupd, "vm1");
	CU_ASSERT_EQUAL(nruns, 1);
	CU_ASSERT(made("HF1", "vm1"));
	auto_machine_started(srv.autoupd, "vm2");
	auto_machine_started(srv.autoupd, "vm3");
	CU_ASSERT_EQUAL(nruns, 1);
	event_base_loop(srv.base, EVLOOP_ONCE);
	CU_ASSERT_EQUAL(nruns, 2);
	CU_ASSERT(made("HF1", "vm2 vm3"));
	teardown();
}

static time_t
at(int y, int mo, int d, int h, int mi, int s)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	tm.tm_isdst = -1;
	return (mktime(&tm));
}

/* The next auto_update_time, in local time, across midnight and DST. */
static void
test_next_daily(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	CU_ASSERT_EQUAL(auto_next_daily(at(2026, 12, 6, 2, 59, 59), 3, 0),
	    at(2026, 12, 6, 3, 0, 0));
	CU_ASSERT_EQUAL(auto_next_daily(at(2026, 12, 6, 3, 0, 0), 3, 0),
	    at(2026, 12, 7, 3, 0, 0));
	CU_ASSERT_EQUAL(auto_next_daily(at(2026, 12, 31, 23, 30, 0), 3, 0),
	    at(2027, 1, 1, 3, 0, 0));
	/*
	 * Central Europe (as a POSIX rule: no tzdata needed) springs forward
	 * on 2026-03-29, falls back on 2026-10-25: 23 and 25 hour days.
	 */
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	CU_ASSERT_EQUAL(auto_next_daily(at(2026, 3, 28, 3, 0, 0), 3, 0) -
	    at(2026, 3, 28, 3, 0, 0), 23 * 3600);
	CU_ASSERT_EQUAL(auto_next_daily(at(2026, 10, 24, 3, 0, 0), 3, 0) -
	    at(2026, 10, 24, 3, 0, 0), 25 * 3600);
	setenv("TZ", "UTC", 1);
	tzset();
}

/*
 * The daily pass on the fake clock: 50 ms before 03:00 it fires once,
 * sends the high package (not the highest one, whose time is when it is
 * added or at a start), and is armed again a day later.
 */
static void
test_daily_pass(void)
{
	struct timeval	tv = { 0, 500 * 1000 };
	uint64_t	t0;

	setenv("TZ", "UTC", 1);
	tzset();
	setup();
	put("HI", PKG_HOTFIX, "high", 1, NULL, NULL, NULL, NULL);
	put("TOP", PKG_HOTFIX, "highest", 1, NULL, NULL, NULL, NULL);
	put("LOW", PKG_HOTFIX, "normal", 1, NULL, NULL, NULL, NULL);
	machine("vm1", "b1", "{" DEBIAN "}");
	t0 = (uint64_t)at(2026, 12, 6, 3, 0, 0) * 1000;
	fake_ms = t0 - 50;
	auto_set_clock(srv.autoupd, fake_clock);
	/* Half a second of real time: the 50 ms timer fires in it. */
	event_base_loopexit(srv.base, &tv);
	fake_ms = t0 + 1;	/* what the clock says when it fires */
	event_base_dispatch(srv.base);
	CU_ASSERT_EQUAL(nruns, 1);
	CU_ASSERT(made("HI", "vm1"));
	/* Armed for tomorrow: nothing in the next half second. */
	event_base_loopexit(srv.base, &tv);
	event_base_dispatch(srv.base);
	CU_ASSERT_EQUAL(nruns, 1);
	/* Set the clock to 50 ms before tomorrow's: it fires again, and
	 * HI, tried in this boot, is not sent twice. */
	fake_ms = t0 + 86400000ULL - 50;
	auto_set_clock(srv.autoupd, fake_clock);
	fake_ms = t0 + 86400000ULL + 1;
	event_base_loopexit(srv.base, &tv);
	event_base_dispatch(srv.base);
	CU_ASSERT_EQUAL(nruns, 1);
	/* A new boot since: the daily pass sends HI to it again. */
	CU_ASSERT(db_machine_online(srv.db, "vm1", 1, "192.0.2.1", "lo", "b2",
	    4) == 0);
	fake_ms = t0 + 2 * 86400000ULL - 50;
	auto_set_clock(srv.autoupd, fake_clock);
	fake_ms = t0 + 2 * 86400000ULL + 1;
	event_base_loopexit(srv.base, &tv);
	event_base_dispatch(srv.base);
	CU_ASSERT_EQUAL(nruns, 2);
	CU_ASSERT(!made("TOP", "vm1"));
	CU_ASSERT(!made("LOW", "vm1"));
	teardown();
}

int
main(void)
{
	CU_TestInfo	tests[] = {
		{ "newest applicable service pack", test_newest_applicable },
		{ "refused: the next one", test_refused_falls_back },
		{ "refused in an earlier boot", test_refused_any_boot },
		{ "superseding base service pack", test_base_superseded },
		{ "predecessor first (P11)", test_predecessor_first },
		{ "start pass at once, then gathered", test_start_gathered },
		{ "next auto_update_time", test_next_daily },
		{ "daily pass on a fake clock", test_daily_pass },
		CU_TEST_INFO_NULL,
	};

	return (unit_main("auto", tests));
}
