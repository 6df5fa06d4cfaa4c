/*
 * fleetcastd's one private header: the server's global state and the
 * interfaces between its parts.  db.c keeps the inventory in SQLite, ca.c
 * the certificate authority, control.c the TLS channel to the agents,
 * api.c the HTTP JSON API (api_package.c its package add), scenario.c a
 * scenario's options, auto.c the automatic update, and runs.c the scenario
 * runs, which it drives through the scheduler (sched.h) and the agents'
 * reports; xfer.c sends the runs' packages and segment.c tells which
 * machines can hear the multicast stream; server.c holds the clock and the
 * trusted keys they share, and fleetcastd.c only starts them and wires them
 * together.  Everything runs on one libevent event_base; no callback
 * blocks except on the local database, whose commits are what makes the
 * server crash-safe.
 */
#ifndef FC_SERVER_H
#define FC_SERVER_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "ctl.h"
#include "sched.h"

#define SERVER_VERSION		FC_VERSION
#define SERVER_HEARTBEAT	10	/* default heartbeat interval, seconds */
#define SERVER_TOKEN_LEN	32	/* random bytes in api.token */
#define SERVER_MAX_NAME		CTL_MAX_NAME

struct event_base;
struct conf;
struct db;
struct ca;
struct control;
struct api;
struct autoupd;
struct feed;
struct agentup;
struct liveness;
struct sched;
struct json_t;

struct server {
	struct event_base	*base;
	struct conf		*conf;
	const char		*state_dir;
	struct db		*db;
	struct ca		*ca;
	struct control		*control;
	struct api		*api;
	struct runs		*runs;
	struct autoupd		*autoupd;
	struct feed		*feed;		/* NULL: no feed_url */
	struct agentup		*agentup;
	struct liveness		*liveness;
	char			 api_token[SERVER_TOKEN_LEN * 2 + 1];
	int			 heartbeat;	/* seconds */
};

/* ---- server.c: the clock, the rate key, the trusted keys ---- */

uint64_t	 server_now_ms(void);
int		 server_parse_rate(const char *, uint64_t *, char *, size_t);
int		 server_load_trusted(struct server *, uint8_t (**)[ED25519_PUB_LEN],
		    size_t *, char *, size_t);

/* ---- scenario.c: a scenario's options, checked, as JSON, for a run ---- */

/* A scenario as stored (db_scenario_clear frees its packages). */
struct scenario {
	char		 name[SERVER_MAX_NAME + 1];
	char		*packages[CTL_MAX_PKGS];
	size_t		 npackages;
	int64_t		 max_targets;	/* 0: not set */
	int64_t		 max_wait;	/* seconds; -1: not set */
	int		 at_next_boot;
	int		 reboot_after;
	int		 poweroff_after;
	int		 unicast;
	char		 group[64];	/* "" : auto-assigned */
	uint16_t	 port;		/* 0: data_port */
	int		 on_error_stop;
};

struct sched_opts;

int		 scenario_parse(struct json_t *, struct scenario *,
		    struct json_t *, char *, size_t);
struct json_t	*scenario_to_json(const struct scenario *);
int		 scenario_from_json(struct json_t *, struct scenario *);
void		 scenario_sched_opts(const struct scenario *, const char *,
		    uint16_t, struct sched_opts *);

/* ---- db.c: the inventory ---- */

#define DB_SCHEMA_VERSION	8	/* 7: feed_state (#16), 8: runs.feedback_key (#12) */

/* What enrollment needs to know about a machine. */
enum db_enroll {
	DB_ENROLL_NONE,		/* not in the inventory */
	DB_ENROLL_PENDING,	/* asked, waiting for an admin */
	DB_ENROLL_APPROVED,	/* approved, certificate not yet issued */
	DB_ENROLL_ENROLLED,	/* certificate issued and pinned */
};

struct db_machine {
	enum db_enroll	 enroll;
	char		*csr;		/* PEM, while pending or approved */
	char		*csr_fp;	/* hex SHA-256 of the CSR's key */
	char		*cert_fp;	/* hex SHA-256 of the certificate */
	char		*error;		/* sticky scenario error, or NULL */
	int		 reenroll;	/* enrolled, and a new key asks */
};

/* A package as the run needs it. */
struct db_package {
	char		 id[64];
	char		*file;		/* absolute path */
	uint64_t	 size;
	uint8_t		 sha256[SHA256_LEN];
	uint8_t		 signature[ED25519_SIG_LEN];
	uint8_t		*manifest;
	size_t		 manifest_len;
};

/* A verified package to store. */
struct db_package_rec {
	const char	*id;
	const char	*type;
	const char	*urgency;
	int		 has_version;
	uint16_t	 major;
	uint16_t	 minor;
	const char	*key_id;
	const uint8_t	*manifest;
	size_t		 manifest_len;
	const uint8_t	*signature;
	const char	*manifest_json;
	const char	*file;		/* relative to state_dir */
	uint64_t	 size;
	const uint8_t	*sha256;
};

/* One machine of a run, as stored. */
struct db_target {
	char		*machine;
	char		*state;
	char		*path;		/* NULL, "multicast", "unicast" */
	char		*error;
};

struct db_run {
	uint64_t	 id;
	char		 scenario[SERVER_MAX_NAME + 1];
	struct scenario	 sc;		/* snapshot taken at run time */
	char		*state;
	char		 group[64];
	uint16_t	 port;
	uint8_t		 key[CTL_KEY_LEN];
	uint8_t		 fkey[CTL_KEY_LEN];	/* F_run: members' keys */
	int		 has_fkey;		/* loaded: the row had one */
	uint64_t	 created_at;
	uint64_t	 transfer_started_at;	/* 0: not yet */
	struct db_target *targets;
	size_t		 ntargets;
};

struct db	*db_open(const char *, char *, size_t);
void		 db_close(struct db *);
int		 db_schema_version(struct db *);
char		*db_format_time(uint64_t, char *, size_t);
int		 db_begin(struct db *);
int		 db_commit(struct db *);
void		 db_commit_stats(struct db *, uint64_t *, double *);
void		 db_rollback(struct db *);
void		 db_event(struct db *, uint64_t, const char *, uint64_t,
		    const char *, const char *, ...)
		    __attribute__((format(printf, 6, 7)));

/* Packages.  Results: 0, or -1 with err (status tells the HTTP code). */
int		 db_package_version(struct db *, const char *, int *, int *,
		    uint16_t *, uint16_t *, char **);
int		 db_package_put(struct db *, const struct db_package_rec *,
		    uint64_t);
int		 db_package_remove(struct db *, const char *, char *, size_t,
		    int *);
int		 db_package_get(struct db *, const char *, struct db_package *);
void		 db_package_clear(struct db_package *);
int		 db_package_exists(struct db *, const char *);
struct json_t	*db_packages_json(struct db *, const char *);
struct json_t	*db_auto_packages(struct db *);
int		 db_auto_attempted(struct db *, const char *, const char *,
		    const char *);
int		 db_auto_attempt(struct db *, const char *, const char *,
		    const char *, uint64_t, uint64_t);
/* db_auto.c: what the agents refused in automatic runs, in any boot. */
int		 db_auto_refused(struct db *, const char *, const char *, char *,
		    size_t);

/* Machines. */
int		 db_machine_get(struct db *, const char *, struct db_machine *);
void		 db_machine_clear(struct db_machine *);
/* What db_machine_request did with a request. */
#define DB_REQUEST_MAIN		0	/* the name's request */
#define DB_REQUEST_OTHER	1	/* another key: kept beside it */
#define DB_REQUEST_FULL		2	/* too many others: not kept */
#define DB_MAX_OTHER_REQUESTS	8	/* other requests kept per name */
int		 db_machine_request(struct db *, const char *, const char *,
		    const char *, const char *, uint64_t);
int		 db_machine_approve(struct db *, const char *, const char *,
		    uint64_t, char *, char *, size_t, int *);
int		 db_machine_enrolled(struct db *, const char *, const char *,
		    uint64_t);
int		 db_machine_online(struct db *, const char *, int, const char *,
		    const char *, const char *, uint64_t);
int		 db_machine_seen(struct db *, const char *, uint64_t);
int		 db_machine_facts(struct db *, const char *, const char *);
int		 db_machine_agent_version(struct db *, const char *,
		    const char *);
int		 db_machine_set_error(struct db *, const char *, const char *);
int		 db_machines_offline(struct db *);
int64_t		 db_machines_pending(struct db *);
struct json_t	*db_machines_json(struct db *, const char *);
struct json_t	*db_machine_events_json(struct db *, const char *, int64_t);
struct json_t	*db_machine_counts(struct db *);
int		 db_token_add(struct db *, const char *,
		    const uint8_t [SHA256_LEN], const char *, int64_t, uint64_t,
		    uint64_t, const char *);
int		 db_token_drop_origin(struct db *, const char *);
int		 db_token_remove(struct db *, const char *);
int		 db_token_check(struct db *, const char *,
		    const uint8_t [SHA256_LEN], const char *, uint64_t, char *,
		    size_t);
int		 db_token_consume(struct db *, const char *);
struct json_t	*db_tokens_json(struct db *);

/* Scenarios. */
int		 db_scenario_put(struct db *, const struct scenario *, uint64_t,
		    char *, size_t, int *);
int		 db_scenario_replace(struct db *, const struct scenario *, char *,
		    size_t, int *);
int		 db_scenario_get(struct db *, const char *, struct scenario *);
void		 db_scenario_clear(struct scenario *);
int		 db_scenario_remove(struct db *, const char *, char *, size_t,
		    int *);
struct json_t	*db_scenarios_json(struct db *, const char *);

/* Runs. */
int		 db_run_next_id(struct db *, uint64_t *);
int		 db_run_create(struct db *, struct db_run *);
int		 db_run_set_fkey(struct db *, uint64_t, const uint8_t *);
int		 db_run_target_state(struct db *, uint64_t, const char *,
		    char *, size_t);
int		 db_run_check_finished(struct db *, uint64_t, uint64_t);
int		 db_run_finish_late(struct db *, uint64_t, uint64_t);
int		 db_machine_error_run(struct db *, const char *, const char *,
		    uint64_t *);
int		 db_run_state(struct db *, uint64_t, const char *, uint64_t);
int		 db_run_target(struct db *, uint64_t, const char *,
		    const char *, const char *, const char *, int, int64_t,
		    int64_t, const char *, uint64_t);
int		 db_run_path(struct db *, uint64_t, const char *, const char *,
		    const char *, uint64_t, int);
int		 db_run_note(struct db *, uint64_t, const char *, const char *,
		    uint64_t);
int		 db_run_bytes(struct db *, uint64_t, const char *, uint64_t);
int		 db_runs_active(struct db *, struct db_run **, size_t *);
void		 db_run_clear(struct db_run *);
struct json_t	*db_runs_json(struct db *, int64_t);
struct json_t	*db_run_counts(struct db *);

/* Package feed state (db_feed.c). */
struct db_feed_state {
	char		*url;
	int		 have_serial;
	uint64_t	 serial;
	int		 have_sha;
	uint8_t		 index_sha256[SHA256_LEN];
	char		*etag;
	char		*last_modified;
	uint64_t	 last_fetch;	/* ms */
	uint64_t	 last_ok;	/* ms */
	char		*last_error;
	int		 failures;
	int64_t		 expires;	/* s; 0: none accepted */
};
int		 db_feed_get(struct db *, struct db_feed_state *);
void		 db_feed_clear(struct db_feed_state *);
int		 db_feed_reset(struct db *, const char *);
int		 db_feed_accept(struct db *, uint64_t, const uint8_t *,
		    int64_t);
int		 db_feed_outcome(struct db *, uint64_t, const char *, int,
		    const char *, const char *);

/* ---- ca.c: the certificate authority ---- */

struct ssl_ctx_st;
struct x509_st;

struct ca	*ca_open(const char *, char *, size_t);
void		 ca_free(struct ca *);
struct ssl_ctx_st *ca_server_ctx(struct ca *, char *, size_t);
int		 ca_sign_csr(struct ca *, const char *, const char *, char **,
		    char *, char *, size_t);
const char	*ca_cert_pem(struct ca *);
const char	*ca_fingerprint(struct ca *);
int		 ca_cert_fingerprint(struct x509_st *, char *);
int		 ca_csr_fingerprint(const char *, char *, char *, size_t);

/* ---- control.c: the agent channel ---- */

/*
 * What the agent channel tells the parts above it (fleetcastd.c wires
 * them to the runs and the automatic update), by machine name: online
 * after WELCOME, offline when an online connection ends, each REPORT,
 * started on the first heartbeat after a new boot id; on_segment says
 * whether an agent's address is on the sending interface's subnet
 * (runs_on_segment), with why.
 */
struct control_cb {
	void	(*online)(void *, const char *);
	void	(*offline)(void *, const char *);
	void	(*report)(void *, const char *, const struct ctl_msg *);
	void	(*started)(void *, const char *);
	int	(*on_segment)(void *, const char *, char *, size_t);
};

struct control	*control_new(struct server *, const struct control_cb *,
		    void *, char *, size_t);
void		 control_free(struct control *);
int		 control_send(struct control *, const char *,
		    const struct ctl_msg *);
int		 control_online(struct control *, const char *);
const char	*control_address(struct control *, const char *);
const char	*control_segment(struct control *, const char *);
void		 control_approved(struct control *, const char *);
int		 control_token_new(struct server *, const char *, int64_t,
		    int64_t, const char *, char *, size_t, char *, size_t);
struct json_t	*control_stats_json(struct control *);

/* ---- api.c: the HTTP API ---- */

struct api	*api_new(struct server *, char *, size_t);
void		 api_free(struct api *);

/* ---- auto.c: automatic update (urgency highest and high) ---- */

struct autoupd	*auto_new(struct server *, char *, size_t);
void		 auto_free(struct autoupd *);
/* P5: a highest package at once; the run it started (0: none), on *n. */
uint64_t	 auto_package_added(struct autoupd *, const char *, size_t *);
void		 auto_machine_started(struct autoupd *, const char *);
int		 auto_parse_time(const char *, int *, int *);
time_t		 auto_next_daily(time_t, int, int);
void		 auto_set_clock(struct autoupd *, uint64_t (*)(void));

/* ---- feed.c: the package feed (MISSION.md P12) ---- */

struct conf;
int		 feed_check_conf(struct conf *, char *, size_t);
struct feed	*feed_new(struct server *, char *, size_t);
void		 feed_free(struct feed *);
struct json_t	*feed_status_json(struct feed *);
/* The feed's passes by how they ended (fleetcast_feed_fetches_total). */
enum feed_pass_result {
	FEED_PASS_OK, FEED_PASS_NOT_MODIFIED, FEED_PASS_FAILED, FEED_PASS_MAX
};
struct feed_stats {
	char		*url;		/* the index's */
	const char	*state;
	int		 have_serial;
	uint64_t	 serial;
	uint64_t	 last_fetch_ms;	/* 0: never */
	uint64_t	 last_ok_ms;
	uint64_t	 next_ms;
	char		*last_error;	/* NULL: none */
	int		 failures;	/* in a row */
	uint64_t	 registered;	/* since start */
	uint64_t	 passes[FEED_PASS_MAX];
};
const char	*feed_pass_name(enum feed_pass_result);
int		 feed_stats(struct feed *, struct feed_stats *);
void		 feed_stats_clear(struct feed_stats *);

/* ---- agentup.c: agent upgrade by multicast (MISSION.md M4) ---- */

struct agentup	*agentup_new(struct server *, int, char *, size_t);
void		 agentup_free(struct agentup *);
void		 agentup_refresh(struct agentup *);
void		 agentup_machine_online(struct agentup *, const char *);
void		 agentup_package_added(struct agentup *, const char *);
void		 agentup_annotate(struct agentup *, struct json_t *);
const char	*agentup_version(struct agentup *);

/* ---- liveness.c: alive and power state, reboot / power-off (M2) ---- */

struct liveness	*liveness_new(struct server *, int, int, char *, size_t);
void		 liveness_free(struct liveness *);
void		 liveness_needed(struct liveness *, const char *);
void		 liveness_agent(struct liveness *, const char *, int);
void		 liveness_annotate(struct liveness *, struct json_t *);
int		 liveness_power(struct liveness *, const char *, int, char *,
		    size_t, int *);

/* ---- xfer.c: the transfers, multicast waves and unicast streams ---- */

/* A transfer's states (xfer_fsm). */
enum xfer_state {
	XFER_S_NEW,		/* made, not started */
	XFER_S_QUEUED,		/* unicast: waits for a free stream */
	XFER_S_STARTING,	/* its next package starts, deferred */
	XFER_S_JOINING,		/* unicast: sender up, receiver silent */
	XFER_S_SENDING,		/* the sender sends to its receivers */
	XFER_S_GRACE,		/* all sent: the members' reports awaited */
	XFER_S_FAILED,		/* ended early: its members fail */
	XFER_S_DONE,		/* over: freed */
};

struct xfer;
struct xfer_ctx;
TAILQ_HEAD(xfer_list, xfer);

/* A run as its transfers see it; the caller's, set by xfer_run_init. */
struct xfer_run {
	const char		*idstr;		/* for the logs */
	const struct db_package	*pkgs;
	size_t			 npkgs;
	const uint8_t		*key;		/* CTL_KEY_LEN bytes */
	const uint8_t		*fkey;		/* F_run, CTL_KEY_LEN bytes */
	uint64_t		 id;
	uint16_t		 port;
	struct xfer_list	 xfers;
};

struct xfer_conf {
	const char		*state_dir;	/* package files are under it */
	unsigned		 ifindex;	/* multicast, 0: routing */
	uint64_t		 rate;		/* bytes/s, all streams; 0: auto */
	int			 max_streams;	/* unicast streams at once */
	int			 join_ms;	/* unicast receiver; 0: 20 s */
	int			 grace_ms;	/* for reports; 0: 120 s */
};

/*
 * What a transfer tells its caller.  start: send member t its START for
 * package pkg and the session its receiver must take (before the sender
 * starts); out: t is out of the transfer,
 * failed (1) or interrupted (0), with the reason (tell its agent); note: a
 * line for t's history (it waits for a stream); refused: the group's
 * sender refused t, with the reason; ended: a transfer ended by itself
 * after its members were out (the caller's own timers may be due);
 * address: where machine name's control connection comes from, or NULL.
 */
struct xfer_cb {
	void		 (*start)(void *, struct xfer_run *,
			    struct sched_target *, size_t, uint64_t);
	void		 (*out)(void *, struct xfer_run *, struct sched_target *,
			    int, const char *);
	void		 (*note)(void *, struct xfer_run *,
			    struct sched_target *, const char *);
	void		 (*refused)(void *, struct xfer_run *,
			    struct sched_target *, const char *);
	void		 (*ended)(void *, struct xfer_run *);
	const char	*(*address)(void *, const char *);
};

/*
 * What the transfers did since start-up, for GET /metrics: a transfer
 * here is one package's stream (a multicast wave's or one machine's);
 * bytes are what went on the wire, by path; drops are the datagrams the
 * senders refused, by enum proto_drop (XFER_NDROPS of them).
 */
#define XFER_NDROPS	16
struct xfer_totals {
	uint64_t	 started;
	uint64_t	 finished;	/* every receiver confirmed */
	uint64_t	 failed;	/* could not start, or with failures */
	uint64_t	 bytes_multicast;
	uint64_t	 bytes_unicast;
	uint64_t	 repair_packets;
	uint64_t	 resend_packets;
	uint64_t	 drops[XFER_NDROPS];
	double		 rate;		/* bytes/s now, all streams */
	int		 streams_active;	/* unicast streams held */
	int		 streams_queued;	/* unicast transfers waiting */
};

struct xfer_ctx	*xfer_ctx_new(struct event_base *, const struct xfer_conf *,
		    const struct xfer_cb *, void *);
void		 xfer_ctx_free(struct xfer_ctx *);
void		 xfer_run_init(struct xfer_run *, uint64_t, const char *,
		    const struct db_package *, size_t, const uint8_t *,
		    const uint8_t *, uint16_t);
void		 xfer_member(const struct xfer_run *, const char *,
		    uint64_t *, uint8_t *);
void		 xfer_run_clear(struct xfer_run *);
struct xfer	*xfer_multicast(struct xfer_ctx *, struct xfer_run *,
		    struct sched_target **, size_t, const char *);
struct xfer	*xfer_unicast(struct xfer_ctx *, struct xfer_run *,
		    struct sched_target *, const char *, size_t);
struct xfer	*xfer_find(struct xfer_run *, struct sched_target *);
void		 xfer_drop(struct xfer *, struct sched_target *);
void		 xfer_free(struct xfer *);
void		 xfer_ready(struct xfer_run *, struct sched_target *, size_t);
int		 xfer_again(struct xfer_run *, struct sched_target *, size_t);
void		 xfer_hint(struct xfer_run *, struct sched_target *, const char *);
enum xfer_state	 xfer_state(const struct xfer *);
enum sched_path	 xfer_path(const struct xfer *);
const char	*xfer_strstate(enum xfer_state);
void		 xfer_totals(struct xfer_ctx *, struct xfer_totals *);

/* ---- segment.c: who hears the multicast stream (MISSION.md S8) ---- */

struct segment {
	unsigned	 ifindex;	/* the sending interface, 0: routing */
	unsigned	 seg_ifindex;	/* the segment's, 0: unknown */
};

void		 segment_init(struct segment *, const struct conf *, uint32_t);
int		 segment_local(const struct segment *, const char *, char *,
		    size_t);

/* ---- runs.c: scenario runs ---- */

#define RUN_ID_MAX	32

struct runs	*runs_new(struct server *, char *, size_t);
void		 runs_free(struct runs *);
int		 runs_restore(struct runs *);
int		 runs_create(struct runs *, const char *, char **, size_t,
		    uint64_t *, char *, size_t, int *);
int		 runs_create_sc(struct runs *, struct scenario *, char **,
		    size_t, uint64_t *, char *, size_t, int *);
void		 runs_machine_online(struct runs *, const char *);
void		 runs_machine_offline(struct runs *, const char *);
void		 runs_report(struct runs *, const char *,
		    const struct ctl_msg *);
int		 runs_clear_error(struct runs *, const char *, int *, char *,
		    size_t, int *);
uint64_t	 runs_using_package(struct runs *, const char *);
int		 runs_machine_busy(struct runs *, const char *, const char *);
int		 runs_on_segment(struct runs *, const char *, char *, size_t);
int		 runs_control(struct runs *, uint64_t, int, char *, size_t,
		    int *);
void		 runs_xfer_totals(struct runs *, struct xfer_totals *);

#endif
