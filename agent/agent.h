/*
 * fleetcast-agent's one private header.  The agent is split by role: facts
 * (what this machine is), state (the SQLite database in state_dir that
 * every change goes through before it is acted on), pending (the next-boot
 * queue and its cap), applic (does a package apply here), exec (child
 * processes: packages, hooks, facts_command), agent_conn (the TLS channel
 * to the server) and run (the per-run state machine tying them together,
 * with run_recv, run_exec and boot below it).
 */
#ifndef FC_AGENT_H
#define FC_AGENT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "ctl.h"
#include "pkg.h"

struct event_base;
struct conf;
struct ctl_msg;

#define AGENT_VERSION		FC_VERSION

/*
 * facts.c: what the agent tells the server about its machine, and what
 * package conditions are evaluated against.  A small sorted key/value
 * list; keys follow the package condition rules (1-63 bytes of
 * A-Z a-z 0-9 _ . -) so that every fact can be named in a condition.
 */
#define FACTS_MAX		256	/* = CTL_MAX_FACTS */
#define FACTS_KEY_MAX		63	/* = PKG_FACT_MAX */
#define FACTS_VALUE_MAX		1024	/* = CTL_MAX_FACT_VALUE */

struct fact {
	char	*key;
	char	*value;
};

struct facts {
	struct fact	*v;
	size_t		 n;
};

void	 facts_init(struct facts *);
void	 facts_free(struct facts *);
int	 facts_set(struct facts *, const char *, const char *);
const char *facts_get(const struct facts *, const char *);
const char *facts_lookup(void *, const char *);	/* a pkg_fact_fn */
int	 facts_equal(const struct facts *, const struct facts *);
void	 facts_copy(struct facts *, const struct facts *);
int	 facts_check_key(const char *);
int	 facts_os_release(struct facts *, const char *);
int	 facts_locale(struct facts *, const char *);
void	 facts_system(struct facts *, const char *);
size_t	 facts_parse(struct facts *, const char *, size_t, const char *);

/*
 * Collecting them: the built-in facts and the installed packages (pkg.ID)
 * at once, the facts_command's lines when it has ended (it gets
 * FACTS_TIMEOUT seconds).  The result replaces *facts when it differs, and
 * sets *dirty so that it goes out with the next heartbeat; done is called
 * after every collection, changed or not.
 */
#define FACTS_TIMEOUT		30	/* seconds for facts_command */

struct exec_job;
struct state;

struct facts_collect {
	struct state	*state;		/* where the installed packages are */
	const char	*command;	/* facts_command, NULL: none */
	struct facts	*facts;		/* the current facts */
	int		*dirty;
	void		(*done)(void *);
	void		*arg;
	struct exec_job	*job;		/* the facts_command, while it runs */
};

void	 facts_refresh(struct facts_collect *);

/*
 * state.c: the agent's database (state_dir/agent.db, SQLite in WAL mode
 * with synchronous=FULL) and its staging area (state_dir/staging, 0700).
 * A transaction either commits whole or leaves the earlier state; errors
 * name the database and what SQLite said ("database or disk is full").
 */
#define STATE_DB		"agent.db"
#define STATE_STAGING		"staging"

struct state;
struct sqlite3;

int	 state_open(struct state **, const char *, char *, size_t);
void	 state_close(struct state *);
struct sqlite3 *state_db(struct state *);
const char *state_dir(const struct state *);
const char *state_staging(const struct state *);
int	 state_begin(struct state *, char *, size_t);
int	 state_commit(struct state *, char *, size_t);
void	 state_rollback(struct state *);
void	 state_sqlerr(struct state *, const char *, char *, size_t);
int	 state_meta_get(struct state *, const char *, char **, char *,
	    size_t);
int	 state_meta_set(struct state *, const char *, const char *, char *,
	    size_t);

/* Installed packages, the source of the pkg.ID facts and of applic. */
struct installed {
	char		*id;
	int		 has_version;
	uint16_t	 major;
	uint16_t	 minor;
	struct pkg_list	 supersedes;
	uint64_t	 run_id;
	int64_t		 installed_at;
};

/*
 * The high-water mark of a package id: the highest version that started
 * to run here (issue #12 finding 8).  applic_mark_check refuses what is
 * below it; the same version again only for an idempotent package.
 */
struct pkg_mark {
	int		 has_version;
	uint16_t	 major;
	uint16_t	 minor;
	uint64_t	 run_id;	/* the run that raised it */
};

int	 state_mark_get(struct state *, const char *, struct pkg_mark *, int *,
	    char *, size_t);
int	 state_mark_raise(struct state *, const struct pkg_manifest *,
	    uint64_t, char *, size_t);

int	 state_installed_add(struct state *, const struct pkg_manifest *,
	    uint64_t, char *, size_t);
int	 state_installed_list(struct state *, struct installed **, size_t *,
	    char *, size_t);
void	 state_installed_free(struct installed *, size_t);

/*
 * Where a run is (run.c's state machine).  The values are stored in the
 * database: append, never renumber.
 */
enum run_state {
	RUN_ASSIGNED = 0,	/* ASSIGN persisted, not yet checked */
	RUN_READY = 1,		/* applicable, group joined, READY reported */
	RUN_RECEIVING = 2,	/* package pkg_index arriving */
	RUN_DELIVERED = 3,	/* every package verified and extracted */
	RUN_QUEUED = 4,		/* waits in the next-boot queue */
	RUN_RUNNING = 5,	/* package pkg_index executing */
	RUN_FINISHED = 6,	/* outcome decided, cleaned up */
	RUN_DONE = 7,		/* outcome reported: history only */
};

/* What became of one package of a run; stored like run_state. */
enum run_pstate {
	RUN_P_WAITING = 0,
	RUN_P_RECEIVING = 1,
	RUN_P_DELIVERED = 2,	/* verified and extracted */
	RUN_P_RUNNING = 3,	/* the executable was started */
	RUN_P_SUCCEEDED = 4,
	RUN_P_FAILED = 5,
	RUN_P_INTERRUPTED = 6,
	RUN_P_SKIPPED = 7,	/* an earlier package failed (on-error stop) */
};

/*
 * The persisted part of a run: what ASSIGN said, where the state machine
 * is, and the outcome of each package.  run.c owns the meaning; state.c
 * stores and loads it.
 */
struct run_pkg {
	char		*id;
	uint64_t	 size;
	uint8_t		 sha256[SHA256_LEN];
	uint8_t		 signature[ED25519_SIG_LEN];	/* over the manifest */
	uint8_t		*manifest;		/* signed manifest, raw */
	size_t		 manifest_len;
	int		 state;			/* enum run_pstate */
	uint64_t	 bytes;
	int		 has_exit;
	int32_t		 exit_status;
	char		*message;
	char		*output;
};

struct run_rec {
	uint64_t	 run_id;
	char		*scenario;
	uint8_t		 path;			/* enum ctl_path */
	char		*addr;
	uint16_t	 port;
	uint8_t		 key[AEAD_KEY_LEN];
	uint64_t	 member_id;		/* our receiver id, 0: none */
	uint8_t		 member_key[AEAD_KEY_LEN];	/* M_m */
	uint64_t	 session;		/* from START, 0: not told */
	uint8_t		 options;		/* CTL_OPT_* */
	int		 state;			/* enum run_state */
	uint16_t	 pkg_index;
	int		 outcome;		/* enum ctl_rstate, 0: none yet */
	char		*message;
	int		 reported;		/* outcome acknowledged */
	int64_t		 created_at;
	int64_t		 updated_at;
	size_t		 npkgs;
	struct run_pkg	*pkgs;
	char		*invalid;	/* loaded: the rule a row broke */
};

int	 state_run_insert(struct state *, const struct run_rec *, char *,
	    size_t);
int	 state_run_update(struct state *, const struct run_rec *, char *,
	    size_t);
int	 state_run_set_path(struct state *, const struct run_rec *, char *,
	    size_t);
int	 state_run_load(struct state *, uint64_t, struct run_rec **, char *,
	    size_t);
int	 state_run_ids(struct state *, int, uint64_t **, size_t *, char *,
	    size_t);
int	 state_run_delete(struct state *, uint64_t, char *, size_t);
void	 state_run_free(struct run_rec *);

/*
 * pending.c: the persisted, ordered next-boot queue (MISSION.md S10-S13).
 * A run reserves its place when it is accepted (so that the cap holds even
 * while several runs are receiving), is committed once its packages are
 * delivered, and becomes due when the agent starts under another boot id
 * than the one it was committed under.  While any entry is due, the
 * machine is applying next-boot updates and refuses new scenarios.
 */
#define PENDING_STR(x)		#x
#define PENDING_XSTR(x)	PENDING_STR(x)
#define PENDING_FULL_MSG	"pending next-boot limit reached (" \
				PENDING_XSTR(CTL_PENDING_CAP) "); " \
				"restart the machine to apply pending updates"
#define PENDING_BUSY_MSG	"next-boot update in progress"

enum pending_kind {
	PENDING_NEXT_BOOT = 1,	/* the scenario's at-next-boot option */
	PENDING_EXCLUSIVE = 2,	/* an exclusive package waits for a reboot */
};

enum pending_estate {
	PENDING_RESERVED = 0,	/* accepted, packages still arriving */
	PENDING_QUEUED = 1,	/* delivered, waits for the next boot */
	PENDING_RUNNING = 2,	/* being applied after the restart */
};

struct pending_entry {
	int64_t		 seq;
	uint64_t	 run_id;
	int		 kind;		/* enum pending_kind */
	int		 state;		/* enum pending_estate */
	char		 boot_id[64];	/* when committed */
};

int	 pending_count(struct state *, size_t *, char *, size_t);
int	 pending_reserve(struct state *, uint64_t, int, const char *, char *,
	    size_t);
int	 pending_commit(struct state *, uint64_t, const char *, char *,
	    size_t);
int	 pending_next_due(struct state *, const char *, struct pending_entry *,
	    char *, size_t);
int	 pending_busy(struct state *, const char *, char *, size_t);
int	 pending_set_running(struct state *, uint64_t, char *, size_t);
int	 pending_remove(struct state *, uint64_t, char *, size_t);
int	 pending_get(struct state *, uint64_t, struct pending_entry *, char *,
	    size_t);

/*
 * applic.c: does a package apply to this machine (MISSION.md P9-P11)?
 * Each refusal is one sentence naming the rule: the OS or language list,
 * a failed condition, a missing base service pack, an installed package
 * that supersedes it, or a lower version than the one installed (the
 * rules are common/pkg_applic.c's, which the server shares).
 */
int	 applic_check(const struct pkg_manifest *, const struct facts *,
	    const struct installed *, size_t, char *, size_t);
int	 applic_mark_check(const struct pkg_manifest *,
	    const struct pkg_mark *, char *, size_t);

/*
 * exec.c: child processes, never through a shell.  A job runs a program
 * with an explicit argv and environment, in its own session, with stdin
 * on /dev/null and stdout+stderr on a pipe whose last EXEC_TAIL_MAX bytes
 * are kept; on timeout the whole process group gets SIGTERM, then SIGKILL.
 * SIGCHLD is one libevent signal event that reaps only our own children.
 */
#define EXEC_TAIL_MAX		4000	/* < CTL_MAX_STR */
#define EXEC_KILL_GRACE		5	/* seconds from SIGTERM to SIGKILL */

enum exec_how {
	EXEC_EXITED = 1,	/* exit_status is the exit code */
	EXEC_SIGNALED,		/* exit_status is the signal */
	EXEC_TIMEDOUT,		/* killed after the timeout */
};

struct exec_result {
	enum exec_how	 how;
	int		 exit_status;
	char		 tail[EXEC_TAIL_MAX + 1];
	size_t		 taillen;
	uint64_t	 outbytes;
};

struct exec_spec {
	const char	 *path;		/* absolute, or searched in PATH if none */
	char *const	 *argv;		/* argv[0] included, NULL-terminated */
	char *const	 *envp;
	const char	 *cwd;		/* NULL: / */
	unsigned	  timeout;	/* seconds, 0: none */
	int		  search;	/* look path up in PATH (hooks only) */
};

struct exec_job;
typedef void (*exec_cb)(const struct exec_result *, void *);

void	 exec_init(struct event_base *);
void	 exec_shutdown(void);
struct exec_job *exec_start(const struct exec_spec *, exec_cb, void *, char *,
	    size_t);
struct exec_job *exec_command(char **, unsigned, exec_cb, void *, char *,
	    size_t);
struct exec_job *exec_fork(int (*)(void *, char *, size_t), void *, unsigned,
	    exec_cb, void *, char *, size_t);
void	 exec_cancel(struct exec_job *);
pid_t	 exec_pid(const struct exec_job *);
char	**exec_pkg_argv(const char *, const char *, const struct pkg_list *,
	    char *, size_t);
char	**exec_env(const char *, uint64_t, const char *);
char	**exec_split(const char *, char *, size_t);
void	 exec_free_argv(char **);
char	*exec_tail_text(const struct exec_result *);
void	 exec_describe(const struct exec_result *, unsigned, char *, size_t);

/*
 * agent_conn.c: the TLS channel to the server.  agent_conn_send queues a
 * message when online; agent_conn_sync sends a heartbeat and returns its
 * sequence number, which the synced callback later reports as
 * acknowledged.  What the server says goes up through the callbacks, so
 * that the channel never calls the runs it carries.
 */
struct agent_conn;
struct agent;

struct agent_conn_cb {
	void	(*online)(void *);		/* WELCOME received */
	void	(*offline)(void *);		/* an online connection went */
	void	(*synced)(void *, uint64_t);	/* heartbeats acked up to */
	void	(*message)(void *, const struct ctl_msg *); /* ASSIGN...CANCEL */
};

struct agent_conn *agent_conn_new(struct agent *, const struct agent_conn_cb *,
	    void *, char *, size_t);
int	 agent_conn_pin(struct conf *, char *, char *, size_t);
void	 agent_conn_start(struct agent_conn *);
void	 agent_conn_free(struct agent_conn *);
int	 agent_conn_is_online(const struct agent_conn *);
int	 agent_conn_send(struct agent_conn *, const struct ctl_msg *);
uint64_t agent_conn_sync(struct agent_conn *);
void	 agent_conn_facts_changed(struct agent_conn *);

/*
 * run.c: every run on this machine, one state machine each (run_fsm);
 * run_recv.c receives a package (and falls back to unicast), run_exec.c
 * verifies and runs it, boot.c applies the next-boot queue and runs the
 * reboot / power-off hooks (their private header is run_int.h).
 * fleetcast-agent.c hands in what the server says.
 */
struct run_ctx;

struct run_ctx *run_init(struct agent *);
void	 run_shutdown(struct run_ctx *);
void	 run_online(struct run_ctx *);
void	 run_offline(struct run_ctx *);
void	 run_synced(struct run_ctx *, uint64_t);
void	 run_message(struct run_ctx *, const struct ctl_msg *);

/*
 * upgrade.c: the agent replacing itself with a newer agent package's
 * binary (MISSION.md M4): checked before the transfer (never a
 * downgrade), staged, swapped in and executed by main() through the
 * reexec callback, watched until it is online, else rolled back.
 * upgrade_startup runs before run_init, so that the upgrade's run finds
 * its outcome; upgrade_online when the server welcomed us.
 */
struct upgrade;

struct upgrade *upgrade_new(struct agent *, char **, unsigned,
	    void (*)(void *), void *);
void	 upgrade_free(struct upgrade *);
void	 upgrade_startup(struct upgrade *);
void	 upgrade_online(struct upgrade *);
int	 upgrade_is_agent(const struct pkg_manifest *);
int	 upgrade_check(struct upgrade *, const struct pkg_manifest *, char *,
	    size_t);
int	 upgrade_begin(struct upgrade *, uint64_t, size_t, const char *,
	    const struct pkg_manifest *, char *, size_t);
_Noreturn void upgrade_exec(struct upgrade *, int);

/*
 * power.c: an admin's reboot or power-off outside any scenario (M2): the
 * server's POWER runs reboot_command or poweroff_command, POWER_DONE says
 * what it did.
 */
struct power;

struct power *power_new(struct agent *);
void	 power_free(struct power *);
void	 power_request(struct power *, const struct ctl_msg *);

/*
 * fleetcast-agent.c: the agent as a whole, what its parts share; main
 * owns it and hands it to each of them.
 */
struct agent {
	struct event_base	*base;
	struct conf		*conf;
	struct state		*state;
	const char		*name;
	char			*boot_id;
	uint8_t			(*keys)[ED25519_PUB_LEN];
	size_t			 nkeys;
	struct facts		 facts;
	int			 facts_dirty;	/* send them with the next beat */
	struct facts_collect	 collect;
	unsigned		 exec_timeout;
	struct agent_conn	*conn;
	struct run_ctx		*runs;
	struct upgrade		*upgrade;
	struct power		*power;
};

#endif
