/*
 * bench/fakeagents: many scripted agents in one process, for
 * bench/server-scale.  Each one is the scripted agent of test_api
 * (tests/integration/sagent.c) and speaks the real control protocol
 * (common/ctl.h) over its own TLS 1.3 connection to fleetcastd, here a
 * bufferevent: it makes a P-256 key and CSR, enrolls with the enrollment
 * token, reconnects with the certificate it got (the server certificate
 * checked against the pinned CA), says HELLO, sends its facts and then
 * heartbeats at the interval the server's WELCOME gives, timing each
 * HEARTBEAT to its HEARTBEAT_ACK.  It answers ASSIGN with REPORT ready at once and START
 * with REPORT interrupted ("no data plane"): the scripted agents take part
 * in the scheduling of a run but receive no data, so what the benchmark
 * times is the server alone.  One libevent loop drives all of them; at
 * most --parallel connections are being set up at a time (the server
 * refuses more than 256 connections that are not online yet).  Counters
 * and heartbeat round-trip percentiles are rewritten to the --status file
 * every second; SIGUSR1 restarts the round-trip sample, SIGINT or SIGTERM
 * ends the process.  With --steps the fleet grows in steps, each SIGUSR2
 * bringing up the next one, so that one process (and one round-trip
 * sample) covers every fleet size the benchmark measures.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ctl.h"
#include "fsutil.h"
#include "log.h"
#include "sagent.h"
#include "xmalloc.h"
#include "mono.h"

#define FA_MAX_AGENTS		100000
#define FA_MAX_PARALLEL		200	/* the server allows 256 not online */
#define FA_MAX_SAMPLES		(1u << 20)	/* round trips kept, 4 MiB */
#define FA_RETRY_SEC		1	/* after a failed connection */
#define FA_VERSION		"bench-fakeagents"
#define FA_MAX_STEPS		32

enum fa_state {
	FA_WAITING,		/* for a setup slot */
	FA_ENROLLING,		/* connected without a certificate */
	FA_HELLO,		/* connected with it, HELLO sent */
	FA_ONLINE,		/* WELCOME received, heartbeating */
	FA_RETRY,		/* connection lost, reconnecting soon */
	FA_FAILED,		/* refused for good (e.g. bad token) */
};

static const char *fa_states[] = {
	"waiting", "enrolling", "hello", "online", "retry", "failed",
};

struct fa {
	struct fleet		*fleet;
	struct sagent		 sa;		/* name, key, certificate */
	enum fa_state		 state;
	int			 slot;		/* holds a setup slot */
	struct bufferevent	*bev;
	uint64_t		 gen;		/* counts connections */
	struct event		*timer;		/* heartbeat or retry */
	uint64_t		 hb_sent;	/* ns; 0: none outstanding */
	uint32_t		 heartbeat;	/* seconds, from WELCOME */
	TAILQ_ENTRY(fa)		 wait_entry;
};
TAILQ_HEAD(fa_queue, fa);

struct fleet {
	struct event_base	*base;
	SSL_CTX			*ctx_enroll;
	SSL_CTX			*ctx_pinned;
	int			 pinned;	/* CA known */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*token;
	const char		*status;
	struct fa		*agents;
	size_t			 n;
	size_t			 steps[FA_MAX_STEPS];	/* cumulative */
	size_t			 nsteps;
	size_t			 step;		/* the current one */
	size_t			 started;	/* agents brought up so far */
	size_t			 parallel;
	size_t			 busy;		/* slots in use */
	struct fa_queue		 waiting;
	struct event		*tick;
	struct event		*sig_usr1;
	struct event		*sig_usr2;
	struct event		*sig_int;
	struct event		*sig_term;
	/* Counters for the status file. */
	size_t			 online;
	size_t			 failed;
	uint64_t		 enrolled;
	uint64_t		 disconnects;
	uint64_t		 heartbeats;
	uint64_t		 acks;
	uint64_t		 assigns;
	uint64_t		 starts;
	uint64_t		 cancels;
	uint64_t		 errors;
	uint64_t		 setup_started;	/* ns, step began */
	uint64_t		 setup_done;	/* ns, all of it online */
	/* Heartbeat round trips in microseconds since the last SIGUSR1. */
	uint32_t		*rtt;
	size_t			 nrtt;
	uint64_t		 rtt_dropped;
};

static void	fa_connect(struct fa *);
static void	fa_down(struct fa *, const char *);
static void	fa_fail(struct fa *, const char *);


static uint64_t
now_unix_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static void
fa_set_state(struct fa *a, enum fa_state s)
{
	struct fleet	*f = a->fleet;

	if (a->state == s)
		return;
	log_debug("%s: %s -> %s", a->sa.name, fa_states[a->state],
	    fa_states[s]);
	if (a->state == FA_ONLINE)
		f->online--;
	if (s == FA_ONLINE) {
		f->online++;
		if (f->online == f->started && f->setup_done == 0)
			f->setup_done = mono_ns();
	}
	if (s == FA_FAILED)
		f->failed++;
	a->state = s;
}

/* Setup slots bound the connections that are not online yet. */
static void
fa_slot_release(struct fa *a)
{
	struct fleet	*f = a->fleet;
	struct fa	*next;

	if (!a->slot)
		return;
	a->slot = 0;
	f->busy--;
	while (f->busy < f->parallel &&
	    (next = TAILQ_FIRST(&f->waiting)) != NULL) {
		TAILQ_REMOVE(&f->waiting, next, wait_entry);
		next->slot = 1;
		f->busy++;
		fa_connect(next);
	}
}

static void
fa_queue(struct fa *a)
{
	struct fleet	*f = a->fleet;

	fa_set_state(a, FA_WAITING);
	if (f->busy < f->parallel) {
		a->slot = 1;
		f->busy++;
		fa_connect(a);
	} else
		TAILQ_INSERT_TAIL(&f->waiting, a, wait_entry);
}

/* The scripted agent's transport: the agent's bufferevent. */
static int
fa_send(struct sagent *sa, const struct ctl_msg *m)
{
	struct fa	*a = sa->arg;
	char		 err[256];

	if (ctl_write(bufferevent_get_output(a->bev), m, err,
	    sizeof(err)) == -1) {
		log_warnx("%s: sending %s: %s", a->sa.name,
		    ctl_strtype(m->type), err);
		return (-1);
	}
	return (0);
}

/*
 * A heartbeat; the first one after HELLO carries facts like the real
 * agent's, so that the server stores a realistic row for every machine.
 */
static void
fa_send_heartbeat(struct fa *a, int with_facts)
{
	struct fleet	*f = a->fleet;
	struct ctl_fact	 facts[8];
	char		 idx[16];

	if (with_facts) {
		snprintf(idx, sizeof(idx), "%zu", (size_t)(a - f->agents));
		facts[0] = (struct ctl_fact){ "agent.version", FA_VERSION };
		facts[1] = (struct ctl_fact){ "arch", "x86_64" };
		facts[2] = (struct ctl_fact){ "bench.index", idx };
		facts[3] = (struct ctl_fact){ "kernel", "6.1.0-bench" };
		facts[4] = (struct ctl_fact){ "lang", "C.UTF-8" };
		facts[5] = (struct ctl_fact){ "os.id", "debian" };
		facts[6] = (struct ctl_fact){ "os.name",
		    "Debian GNU/Linux 12 (bookworm)" };
		facts[7] = (struct ctl_fact){ "os.version_id", "12" };
	}
	if (sagent_send_heartbeat(&a->sa, now_unix_ms(), with_facts ? facts :
	    NULL, 8) == 0) {
		f->heartbeats++;
		/* One outstanding at a time: the ack answers the oldest. */
		if (a->hb_sent == 0)
			a->hb_sent = mono_ns();
	}
}

static void
fa_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fa	*a = arg;
	struct timeval	 tv;

	switch (a->state) {
	case FA_ONLINE:
		fa_send_heartbeat(a, 0);
		tv.tv_sec = a->heartbeat;
		tv.tv_usec = 0;
		evtimer_add(a->timer, &tv);
		break;
	case FA_RETRY:
		fa_queue(a);
		break;
	default:
		break;
	}
}

static void
fa_got_cert(struct fa *a, struct ctl_msg *m)
{
	struct fleet	*f = a->fleet;
	X509		*ca;

	if (sagent_take_cert(&a->sa, m) == -1) {
		fa_fail(a, "CERT: unreadable certificate");
		return;
	}
	/* Pin the CA of the first certificate, as a real agent does. */
	if (!f->pinned) {
		ca = sagent_pem_x509(m->u.cert.ca);
		if (ca == NULL || X509_STORE_add_cert(SSL_CTX_get_cert_store(
		    f->ctx_pinned), ca) != 1)
			fatalx("CERT: unusable CA certificate");
		X509_free(ca);
		f->pinned = 1;
	}
	f->enrolled++;
	/* The enrollment connection is done; the agent keeps its slot. */
	bufferevent_free(a->bev);
	a->bev = NULL;
	fa_connect(a);
}

static void
fa_got_welcome(struct fa *a, struct ctl_msg *m)
{
	struct timeval	tv;
	uint64_t	us;

	a->heartbeat = m->u.welcome.heartbeat > 0 ? m->u.welcome.heartbeat :
	    10;
	fa_set_state(a, FA_ONLINE);
	fa_slot_release(a);
	fa_send_heartbeat(a, 1);
	/* A random phase, so that heartbeats do not come in waves. */
	us = (uint64_t)random() % ((uint64_t)a->heartbeat * 1000000);
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	evtimer_add(a->timer, &tv);
}

static void
fa_msg(struct fa *a, struct ctl_msg *m)
{
	struct fleet	*f = a->fleet;
	uint64_t	 t;

	switch (m->type) {
	case CTL_CERT:
		if (a->state == FA_ENROLLING) {
			fa_got_cert(a, m);
			return;
		}
		break;
	case CTL_ENROLL_PENDING:
		if (a->state == FA_ENROLLING) {
			log_warnx("%s: enrollment pending (%s); give --token",
			    a->sa.name, m->u.pending.message);
			fa_fail(a, NULL);
			return;
		}
		break;
	case CTL_WELCOME:
		if (a->state == FA_HELLO) {
			fa_got_welcome(a, m);
			return;
		}
		break;
	case CTL_HEARTBEAT_ACK:
		if (a->state != FA_ONLINE)
			break;
		f->acks++;
		if (a->hb_sent != 0) {
			t = (mono_ns() - a->hb_sent) / 1000;
			if (f->nrtt < FA_MAX_SAMPLES)
				f->rtt[f->nrtt++] = t > UINT32_MAX ?
				    UINT32_MAX : (uint32_t)t;
			else
				f->rtt_dropped++;
			a->hb_sent = 0;
		}
		return;
	case CTL_ASSIGN:
		if (a->state != FA_ONLINE)
			break;
		f->assigns++;
		sagent_send_report(&a->sa, m->u.assign.run_id, CTL_RS_READY, -1,
		    "", 0);
		return;
	case CTL_START:
		if (a->state != FA_ONLINE)
			break;
		f->starts++;
		sagent_send_report(&a->sa, m->u.start.run_id,
		    CTL_RS_INTERRUPTED, -1, "scripted agent (bench/fakeagents): "
		    "no data plane", 0);
		return;
	case CTL_CANCEL:
		if (a->state != FA_ONLINE)
			break;
		f->cancels++;
		return;
	case CTL_ERROR:
		log_warnx("%s: server error %u: %s", a->sa.name,
		    m->u.error.code, m->u.error.message);
		f->errors++;
		if (m->u.error.code == CTL_ERR_ENROLL_REFUSED)
			fa_fail(a, NULL);
		else
			fa_down(a, NULL);
		return;
	default:
		break;
	}
	log_warnx("%s: unexpected %s in state %s", a->sa.name,
	    ctl_strtype(m->type), fa_states[a->state]);
	f->errors++;
	fa_down(a, NULL);
}

static void
fa_read_cb(struct bufferevent *bev, void *arg)
{
	struct fa	*a = arg;
	struct ctl_msg	 m;
	char		 err[256];
	uint64_t	 gen = a->gen;
	int		 rv;

	/* A handler may end the connection (CERT, ERROR): check each time. */
	while (a->bev == bev && a->gen == gen) {
		rv = ctl_read(bufferevent_get_input(bev), CTL_MAX_FRAME, &m,
		    err, sizeof(err));
		if (rv == 0)
			return;
		if (rv == -1) {
			log_warnx("%s: bad message: %s", a->sa.name, err);
			a->fleet->errors++;
			fa_down(a, NULL);
			return;
		}
		fa_msg(a, &m);
		ctl_msg_free(&m);
	}
}

static void
fa_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct fa	*a = arg;
	unsigned long	 e;
	char		 buf[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (a->state == FA_ENROLLING)
			sagent_send_enroll(&a->sa, a->fleet->token);
		else
			sagent_send_hello(&a->sa, a->sa.name);
		return;
	}
	if ((e = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fa_down(a, buf);
	} else if (what & BEV_EVENT_EOF)
		fa_down(a, "closed by the server");
	else
		fa_down(a, "connection error");
}

/* Open the enrollment or the HELLO connection; holds a slot. */
static void
fa_connect(struct fa *a)
{
	struct fleet	*f = a->fleet;
	SSL		*ssl;

	if (a->sa.cert == NULL) {
		ssl = SSL_new(f->ctx_enroll);
		fa_set_state(a, FA_ENROLLING);
	} else {
		ssl = SSL_new(f->ctx_pinned);
		if (ssl != NULL && (SSL_use_certificate(ssl, a->sa.cert) !=
		    1 || SSL_use_PrivateKey(ssl, a->sa.key) != 1))
			fatalx("%s: cannot use the certificate", a->sa.name);
		fa_set_state(a, FA_HELLO);
	}
	if (ssl == NULL)
		fatalx("SSL_new failed");
	a->gen++;
	a->bev = bufferevent_openssl_socket_new(f->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (a->bev == NULL)
		fatalx("bufferevent_openssl_socket_new failed");
	bufferevent_openssl_set_allow_dirty_shutdown(a->bev, 1);
	bufferevent_setcb(a->bev, fa_read_cb, NULL, fa_event_cb, a);
	bufferevent_enable(a->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(a->bev, (struct sockaddr *)&f->ss,
	    (int)f->sslen) == -1)
		fa_down(a, "connect failed");
}

/* The connection is gone: try again in a second (unless failed). */
static void
fa_down(struct fa *a, const char *why)
{
	struct fleet	*f = a->fleet;
	struct timeval	 tv = { FA_RETRY_SEC, 0 };

	if (why != NULL)
		log_info("%s: %s: %s", a->sa.name, fa_states[a->state], why);
	if (a->state == FA_ONLINE)
		f->disconnects++;
	if (a->bev != NULL) {
		bufferevent_free(a->bev);
		a->bev = NULL;
	}
	a->hb_sent = 0;
	evtimer_del(a->timer);
	fa_slot_release(a);
	fa_set_state(a, FA_RETRY);
	evtimer_add(a->timer, &tv);
}

/* Refused for good: no more retries. */
static void
fa_fail(struct fa *a, const char *why)
{
	fa_down(a, why);
	evtimer_del(a->timer);
	fa_set_state(a, FA_FAILED);
}

/* Bring up the agents of the next step (the first one at start). */
static void
fleet_step(struct fleet *f)
{
	size_t	i, upto;

	if (f->started > 0 && f->step + 1 >= f->nsteps) {
		log_info("no step after %zu agents", f->started);
		return;
	}
	if (f->started > 0)
		f->step++;
	upto = f->steps[f->step];
	f->setup_started = mono_ns();
	f->setup_done = 0;
	log_info("step %zu: %zu agents", f->step + 1, upto);
	for (i = f->started; i < upto; i++) {
		f->started++;
		fa_queue(&f->agents[i]);
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x < y ? -1 : x > y);
}

/* The nearest-rank percentile of a sorted sample, in milliseconds. */
static double
pct_ms(const uint32_t *v, size_t n, double p)
{
	size_t	k;

	if (n == 0)
		return (0);
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (v[k - 1] / 1000.0);
}

static void
fleet_status(struct fleet *f)
{
	uint32_t	*s;
	char		*text, err[512];
	double		 setup;

	s = xreallocarray(NULL, f->nrtt > 0 ? f->nrtt : 1, sizeof(*s));
	memcpy(s, f->rtt, f->nrtt * sizeof(*s));
	qsort(s, f->nrtt, sizeof(*s), cmp_u32);
	setup = f->setup_done != 0 ? (f->setup_done - f->setup_started) /
	    1e9 : -1;
	xasprintf(&text, "now_s=%.3f\nagents=%zu\nstep=%zu\nstarted=%zu\n"
	    "online=%zu\n"
	    "failed=%zu\nenrolled=%"
	    PRIu64 "\nsetup_s=%.3f\ndisconnects=%" PRIu64 "\nheartbeats=%"
	    PRIu64 "\nacks=%" PRIu64 "\nassigns=%" PRIu64 "\nstarts=%" PRIu64
	    "\ncancels=%" PRIu64 "\nerrors=%" PRIu64 "\nrtt_samples=%zu\n"
	    "rtt_dropped=%" PRIu64 "\nrtt_p50_ms=%.3f\nrtt_p90_ms=%.3f\n"
	    "rtt_p99_ms=%.3f\nrtt_max_ms=%.3f\n", mono_ns() / 1e9, f->n,
	    f->step + 1,
	    f->started, f->online, f->failed,
	    f->enrolled, setup, f->disconnects, f->heartbeats, f->acks,
	    f->assigns, f->starts, f->cancels, f->errors, f->nrtt,
	    f->rtt_dropped, pct_ms(s, f->nrtt, 50), pct_ms(s, f->nrtt, 90),
	    pct_ms(s, f->nrtt, 99), pct_ms(s, f->nrtt, 100));
	free(s);
	if (f->status != NULL) {
		if (atomic_write_file(f->status, text, strlen(text), 0644, err,
		    sizeof(err)) == -1)
			log_warnx("%s", err);
	} else
		fputs(text, stdout);
	free(text);
}

static void
fleet_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	fleet_status(arg);
}

static void
fleet_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct fleet	*f = arg;

	if (sig == SIGUSR1) {
		f->nrtt = 0;
		f->rtt_dropped = 0;
		return;
	}
	if (sig == SIGUSR2) {
		fleet_step(f);
		return;
	}
	event_base_loopexit(f->base, NULL);
}

static int
parse_server(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 host[128], *colon, *end;
	unsigned long		 port;

	if (strlen(s) >= sizeof(host))
		return (-1);
	snprintf(host, sizeof(host), "%s", s);
	if ((colon = strrchr(host, ':')) == NULL)
		return (-1);
	*colon = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return (-1);
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
			return (-1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
		return (0);
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return (-1);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	*len = sizeof(*sin);
	return (0);
}

static int
parse_count(const char *opt, const char *s, size_t min, size_t max,
    size_t *out)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] == '\0' || s[0] == '-' || errno != 0 || *end != '\0' ||
	    v < min || v > max) {
		fprintf(stderr, "fakeagents: %s: '%s', must be a whole number "
		    "%zu-%zu\n", opt, s, min, max);
		return (-1);
	}
	*out = v;
	return (0);
}

/* --steps: increasing cumulative counts, e.g. 100,500,1000. */
static int
parse_steps(struct fleet *f, const char *s)
{
	char	*copy, *tok, *save = NULL;
	size_t	 v, prev = 0;

	copy = xstrdup(s);
	f->nsteps = 0;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (f->nsteps == FA_MAX_STEPS) {
			fprintf(stderr, "fakeagents: --steps: more than %d "
			    "steps\n", FA_MAX_STEPS);
			goto bad;
		}
		if (parse_count("--steps", tok, prev + 1, FA_MAX_AGENTS,
		    &v) == -1)
			goto bad;
		f->steps[f->nsteps++] = prev = v;
	}
	free(copy);
	if (f->nsteps == 0) {
		fprintf(stderr, "fakeagents: --steps: empty\n");
		return (-1);
	}
	return (0);
bad:
	free(copy);
	return (-1);
}

static char *
read_token(const char *path)
{
	FILE	*fp;
	char	 buf[256];
	size_t	 n;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "fakeagents: --token-file: %s: %s\n", path,
		    strerror(errno));
		return (NULL);
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		fprintf(stderr, "fakeagents: --token-file: %s: empty\n", path);
		return (NULL);
	}
	return (xstrdup(buf));
}

static _Noreturn void
usage(int rv)
{
	fprintf(rv == 0 ? stdout : stderr,
	    "usage: fakeagents --server HOST:PORT --count N | --steps LIST\n"
	    "           [--first K] [--prefix P] [--token T | --token-file F]\n"
	    "           [--parallel C] [--status FILE] [-v]\n"
	    "Runs N scripted agents named P%%05d (K to K+N-1) against\n"
	    "fleetcastd's control channel: enroll with the token, HELLO,\n"
	    "heartbeat at the server's interval; ASSIGN is answered with\n"
	    "REPORT ready, START with REPORT interrupted.  At most C (default\n"
	    "32) connections are set up at once.  Counters and heartbeat\n"
	    "round trips go to FILE every second (stdout without --status);\n"
	    "SIGUSR1 restarts the round-trip sample, SIGTERM ends.  --steps\n"
	    "100,500,1000 starts 100 agents and 400 more at each SIGUSR2...\n"
	    "(counts in increasing order; the last is the total).\n");
	exit(rv);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "steps", required_argument, NULL, 'N' },
		{ "first", required_argument, NULL, 'f' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "token", required_argument, NULL, 't' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "status", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fleet	 fleet;
	struct fleet	*f = &fleet;
	struct timeval	 tv = { 1, 0 };
	const char	*server = NULL, *prefix = "fa-";
	char		*token = NULL, name[64];
	size_t		 i, first = 0, count = 0;
	int		 ch, verbose = 0;

	memset(f, 0, sizeof(*f));
	f->parallel = 32;
	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			server = optarg;
			break;
		case 'n':
			if (parse_count("--count", optarg, 1, FA_MAX_AGENTS,
			    &count) == -1)
				exit(2);
			f->steps[0] = count;
			f->nsteps = 1;
			break;
		case 'N':
			if (parse_steps(f, optarg) == -1)
				exit(2);
			count = f->steps[f->nsteps - 1];
			break;
		case 'f':
			if (parse_count("--first", optarg, 0, 99999,
			    &first) == -1)
				exit(2);
			break;
		case 'p':
			if (strlen(optarg) > 32) {
				fprintf(stderr, "fakeagents: --prefix: %zu "
				    "bytes, limit 32\n", strlen(optarg));
				exit(2);
			}
			prefix = optarg;
			break;
		case 't':
			free(token);
			token = xstrdup(optarg);
			break;
		case 'T':
			free(token);
			if ((token = read_token(optarg)) == NULL)
				exit(2);
			break;
		case 'P':
			if (parse_count("--parallel", optarg, 1,
			    FA_MAX_PARALLEL, &f->parallel) == -1)
				exit(2);
			break;
		case 'S':
			f->status = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc || server == NULL || count == 0) {
		fprintf(stderr, "fakeagents: %s\n", optind != argc ?
		    "unexpected argument" : server == NULL ?
		    "--server is needed" : "--count or --steps is needed");
		usage(2);
	}
	if (first + count > 100000) {
		fprintf(stderr, "fakeagents: --first + --count: %zu, limit "
		    "100000 (names have 5 digits)\n", first + count);
		exit(2);
	}
	if (parse_server(server, &f->ss, &f->sslen) == -1) {
		fprintf(stderr, "fakeagents: --server: '%s' must be "
		    "ADDRESS:PORT (numeric)\n", server);
		exit(2);
	}
	log_init("fakeagents", 1, verbose);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned int)getpid());
	f->token = token != NULL ? token : "";
	f->n = count;
	f->agents = xcalloc(count, sizeof(*f->agents));
	f->rtt = xreallocarray(NULL, FA_MAX_SAMPLES, sizeof(*f->rtt));
	TAILQ_INIT(&f->waiting);
	if ((f->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	/* Enrollment trusts the server once; after it, only the pinned CA. */
	if ((f->ctx_enroll = sagent_tls_ctx(0)) == NULL ||
	    (f->ctx_pinned = sagent_tls_ctx(1)) == NULL)
		fatalx("cannot set up TLS 1.3");
	f->tick = event_new(f->base, -1, EV_PERSIST, fleet_tick_cb, f);
	evtimer_add(f->tick, &tv);
	f->sig_usr1 = evsignal_new(f->base, SIGUSR1, fleet_signal_cb, f);
	f->sig_int = evsignal_new(f->base, SIGINT, fleet_signal_cb, f);
	f->sig_term = evsignal_new(f->base, SIGTERM, fleet_signal_cb, f);
	f->sig_usr2 = evsignal_new(f->base, SIGUSR2, fleet_signal_cb, f);
	evsignal_add(f->sig_usr1, NULL);
	evsignal_add(f->sig_usr2, NULL);
	evsignal_add(f->sig_int, NULL);
	evsignal_add(f->sig_term, NULL);
	for (i = 0; i < count; i++) {
		f->agents[i].fleet = f;
		snprintf(name, sizeof(name), "%s%05zu", prefix, first + i);
		sagent_init(&f->agents[i].sa, name, FA_VERSION,
		    "fakeagents-boot-1", fa_send, &f->agents[i]);
		f->agents[i].timer = evtimer_new(f->base, fa_timer_cb,
		    &f->agents[i]);
	}
	fleet_step(f);
	event_base_dispatch(f->base);

	fleet_status(f);
	for (i = 0; i < count; i++) {
		if (f->agents[i].bev != NULL)
			bufferevent_free(f->agents[i].bev);
		event_free(f->agents[i].timer);
		sagent_free(&f->agents[i].sa);
	}
	event_free(f->tick);
	event_free(f->sig_usr1);
	event_free(f->sig_usr2);
	event_free(f->sig_int);
	event_free(f->sig_term);
	SSL_CTX_free(f->ctx_enroll);
	SSL_CTX_free(f->ctx_pinned);
	event_base_free(f->base);
	free(f->agents);
	free(f->rtt);
	free(token);
	return (f->failed > 0 ? 1 : 0);
}
