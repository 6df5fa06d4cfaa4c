/*
 * The agent's channel to the server: one TLS 1.3 connection out to the
 * server's control_listen, on libevent's OpenSSL bufferevents, carrying
 * the framed messages of common/ctl.h.  The agent always connects out and
 * retries with a growing, jittered back-off, so a server restart or a
 * firewall that opens late after boot (MISSION.md M3) only delays it.
 *
 * Without a certificate the agent enrolls: it generates its key once
 * (state_dir/agent.key, 0600), and before it sends anything it checks the
 * server against the fingerprint it was given (server_fingerprint, or the
 * last part of its enroll_token: the SHA-256 of the server's CA, which the
 * server sends with its own certificate); a server that does not match
 * gets nothing, the token least of all.  Then it sends a CSR with the
 * token (or none, then waits on the connection for an admin's approval),
 * and on CERT checks that the server it talked to chains to the CA it was
 * given, and that CA to the fingerprint, before storing both (ca.crt,
 * agent.crt): from then on it accepts only a server certificate that
 * chains to that pinned CA, and shows its own.  Without a fingerprint and
 * without a token it trusts the first server that answers (trust on first
 * use, logged): it has no secret to lose then, and the admin approves its
 * key on the real server.
 *
 * The connection is a small state machine (agent_conn_fsm); everything
 * about runs is handed up through the callbacks the agent gave
 * agent_conn_new (struct agent_conn_cb), so that this file never calls
 * the runs it serves.  HEARTBEAT_ACKs come back in order, so a
 * heartbeat sent right after a REPORT tells, once acknowledged, that the
 * server has processed the report (agent_conn_sync).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "agent.h"
#include "conf.h"
#include "ctl.h"
#include "etoken.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

#define AGENT_CONN_KEY_FILE		"agent.key"
#define AGENT_CONN_CERT_FILE		"agent.crt"
#define AGENT_CONN_CA_FILE		"ca.crt"
#define AGENT_CONN_BACKOFF_MIN	1	/* seconds */
#define AGENT_CONN_BACKOFF_MAX	30
#define AGENT_CONN_REFUSED_WAIT	60	/* after the server refused us */
#define AGENT_CONN_SETUP_TIMEOUT	10	/* connect + TLS + first answer */
#define AGENT_CONN_PEM_MAX		CTL_MAX_PEM
#define AGENT_CONN_MISSED_BEATS	3	/* beat periods without an ack: dead */

enum agent_conn_state {
	AGENT_CONN_IDLE,		/* not connected, retry timer armed */
	AGENT_CONN_CONNECTING,	/* TCP + TLS handshake */
	AGENT_CONN_ENROLLING,		/* ENROLL sent */
	AGENT_CONN_PENDING,		/* waiting for an admin's approval */
	AGENT_CONN_HELLO,		/* HELLO sent, waiting for WELCOME */
	AGENT_CONN_ONLINE,		/* WELCOME received */
};

enum agent_conn_event {
	AGENT_CONN_EV_START,		/* time to (re)connect */
	AGENT_CONN_EV_CONNECTED,	/* TLS handshake done */
	AGENT_CONN_EV_MESSAGE,	/* a decoded message arrived */
	AGENT_CONN_EV_CLOSED,		/* error, EOF, timeout or protocol error */
};

struct agent_conn {
	struct agent		*agent;
	struct agent_conn_cb	 cb;		/* what the agent hears of */
	void			*arg;
	enum agent_conn_state	 state;
	char			*host;
	uint16_t		 port;
	struct evdns_base	*dns;
	SSL_CTX			*ctx_enroll;
	SSL_CTX			*ctx_pinned;
	EVP_PKEY		*key;
	X509			*cert;		/* NULL: not enrolled */
	X509			*ca;
	char			*keypath, *certpath, *capath;
	char			 pin[ETOKEN_FP_HEX + 1];	/* "": none */
	char			 token[ETOKEN_MAX];	/* ID.SECRET; "": none */
	struct bufferevent	*bev;
	struct event		*ev_retry;
	struct event		*ev_beat;
	struct event		*ev_setup;
	unsigned		 backoff;
	unsigned		 next_wait;	/* seconds before the retry */
	uint32_t		 heartbeat;
	uint64_t		 beat_sent;	/* sequence of the last beat */
	uint64_t		 beat_acked;
	uint64_t		 beat_base;	/* beat_sent at connect time */
	/* Beat periods that ended with a beat unanswered and no ack in them:
	 * the syncs' extra beats (agent_conn_sync) do not count. */
	unsigned		 beats_missed;
	int			 logged_down;
};

static void	agent_conn_fsm(struct agent_conn *, enum agent_conn_event,
		    struct ctl_msg *);

static const char *
agent_conn_strstate(enum agent_conn_state s)
{
	static const char *names[] = { "idle", "connecting", "enrolling",
	    "pending", "hello", "online" };

	return (names[s]);
}

static void
agent_conn_set_state(struct agent_conn *c, enum agent_conn_state s)
{
	if (c->state == s)
		return;
	log_debug("conn: %s -> %s", agent_conn_strstate(c->state),
	    agent_conn_strstate(s));
	c->state = s;
}

/* The OpenSSL error queue, as one line, for the log. */
static void
agent_conn_ssl_errors(char *buf, size_t len)
{
	unsigned long	e;
	size_t		off = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0 && off + 2 < len) {
		if (off > 0)
			buf[off++] = ';';
		ERR_error_string_n(e, buf + off, len - off);
		off += strlen(buf + off);
	}
}

/* Keys and certificates. */

static char *
agent_conn_pem_of(X509 *x, EVP_PKEY *k, X509_REQ *req)
{
	BIO	*b;
	char	*data, *s;
	long	 n;
	int	 ok;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return (NULL);
	if (x != NULL)
		ok = PEM_write_bio_X509(b, x);
	else if (req != NULL)
		ok = PEM_write_bio_X509_REQ(b, req);
	else
		ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	if (!ok) {
		BIO_free(b);
		return (NULL);
	}
	n = BIO_get_mem_data(b, &data);
	s = xstrndup(data, (size_t)n);
	BIO_free_all(b);
	return (s);
}

static X509 *
agent_conn_x509_of(const char *pem)
{
	BIO	*b;
	X509	*x;

	if ((b = BIO_new_mem_buf(pem, -1)) == NULL)
		return (NULL);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return (x);
}

static X509 *
agent_conn_read_cert(const char *path)
{
	FILE	*fp;
	X509	*x;

	if ((fp = fopen(path, "r")) == NULL)
		return (NULL);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	return (x);
}

/* The agent's key: made once (ECDSA P-256) and kept 0600. */
static int
agent_conn_load_key(struct agent_conn *c, char *err, size_t errlen)
{
	FILE	*fp;
	char	*pem, e2[256];

	if ((fp = fopen(c->keypath, "r")) != NULL) {
		c->key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
		if (c->key == NULL) {
			agent_conn_ssl_errors(e2, sizeof(e2));
			snprintf(err, errlen, "%s: not a PEM private key (%s); "
			    "remove it to enroll with a new key", c->keypath,
			    e2);
			return (-1);
		}
		return (0);
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", c->keypath, strerror(errno));
		return (-1);
	}
	if ((c->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		snprintf(err, errlen, "generating the agent key failed");
		return (-1);
	}
	if ((pem = agent_conn_pem_of(NULL, c->key, NULL)) == NULL) {
		snprintf(err, errlen, "encoding the agent key failed");
		return (-1);
	}
	if (atomic_write_file(c->keypath, pem, strlen(pem), 0600, err,
	    errlen) == -1) {
		freezero(pem, strlen(pem));
		return (-1);
	}
	freezero(pem, strlen(pem));
	log_info("conn: new agent key in %s", c->keypath);
	return (0);
}

static char *
agent_conn_make_csr(struct agent_conn *c)
{
	X509_REQ	*req;
	X509_NAME	*nm;
	char		*pem = NULL;

	if ((req = X509_REQ_new()) == NULL)
		return (NULL);
	nm = X509_REQ_get_subject_name(req);
	if (X509_REQ_set_version(req, 0) == 1 &&
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)c->agent->name, -1, -1, 0) == 1 &&
	    X509_REQ_set_pubkey(req, c->key) == 1 &&
	    X509_REQ_sign(req, c->key, EVP_sha256()) > 0)
		pem = agent_conn_pem_of(NULL, NULL, req);
	X509_REQ_free(req);
	return (pem);
}

/*
 * The fingerprint an enrolling agent pins (pin, 65 bytes, "" for none)
 * from server_fingerprint and enroll_token, which must agree; a token
 * without either is refused, since it would go to whichever server
 * answers.  For -n as well as at start.
 */
int
agent_conn_pin(struct conf *conf, char *pin, char *err, size_t errlen)
{
	struct etoken	 t;
	const char	*fp = conf_str(conf, "server_fingerprint");
	const char	*tok = conf_str(conf, "enroll_token");
	char		 e2[512];

	pin[0] = '\0';
	if (fp != NULL && etoken_parse_fp(fp, pin, e2, sizeof(e2)) == -1) {
		snprintf(err, errlen, "server_fingerprint (%s): %s",
		    conf_where(conf, "server_fingerprint"), e2);
		return (-1);
	}
	if (tok == NULL)
		return (0);
	if (etoken_parse(tok, &t, e2, sizeof(e2)) == -1) {
		snprintf(err, errlen, "enroll_token (%s): %s",
		    conf_where(conf, "enroll_token"), e2);
		return (-1);
	}
	if (t.fp[0] != '\0' && pin[0] != '\0' && strcmp(t.fp, pin) != 0) {
		etoken_clear(&t);
		snprintf(err, errlen, "enroll_token (%s): its server "
		    "fingerprint %.16s... is not server_fingerprint %.16s...: "
		    "one of them is for another server",
		    conf_where(conf, "enroll_token"), t.fp, pin);
		return (-1);
	}
	if (pin[0] == '\0')
		snprintf(pin, ETOKEN_FP_HEX + 1, "%s", t.fp);
	etoken_clear(&t);
	if (pin[0] == '\0') {
		snprintf(err, errlen, "enroll_token (%s): it carries no server "
		    "fingerprint and server_fingerprint is not set, so it "
		    "would be sent to whichever server answers; use a token "
		    "of 'fleetcast machine token' (ID.SECRET.FP) or set "
		    "server_fingerprint ('fleetcast server fingerprint')",
		    conf_where(conf, "enroll_token"));
		return (-1);
	}
	return (0);
}

/* The hex SHA-256 of a certificate (65 bytes); "" if it fails. */
static void
agent_conn_fp_of(X509 *x, char *hex)
{
	uint8_t		md[EVP_MAX_MD_SIZE];
	unsigned int	len;

	hex[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &len) == 1 && len == SHA256_LEN)
		hex_encode(md, SHA256_LEN, hex);
}

/* 1 when x chains to ca (one level: the server's CA signs directly). */
static int
agent_conn_chains_to(X509 *x, X509 *ca)
{
	X509_STORE	*store;
	X509_STORE_CTX	*ctx;
	int		 ok = 0;

	if ((store = X509_STORE_new()) == NULL)
		return (0);
	if ((ctx = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_add_cert(store, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, store, x, NULL) == 1)
		ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return (ok);
}

static SSL_CTX *
agent_conn_new_ctx(struct agent_conn *c, int pinned)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return (NULL);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		goto fail;
	if (pinned) {
		if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx),
		    c->ca) != 1 ||
		    SSL_CTX_use_certificate(ctx, c->cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, c->key) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1)
			goto fail;
		/*
		 * The pin is the CA: the server's name is not checked, since
		 * agents reach it by whatever address their config says.
		 */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_verify_depth(ctx, 1);
	} else {
		/* Enrollment: trust on first use, checked once CERT comes. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return (ctx);
fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/*
 * Load the pinned CA and our certificate if both are there; a certificate
 * that does not match our key or the CA is set aside so that the agent
 * enrolls again instead of failing forever.
 */
static int
agent_conn_load_certs(struct agent_conn *c, char *err, size_t errlen)
{
	char	old[1024];

	X509_free(c->cert);
	X509_free(c->ca);
	c->cert = c->ca = NULL;
	SSL_CTX_free(c->ctx_pinned);
	c->ctx_pinned = NULL;
	c->ca = agent_conn_read_cert(c->capath);
	if (c->ca == NULL ||
	    (c->cert = agent_conn_read_cert(c->certpath)) == NULL)
		return (0);
	if (X509_check_private_key(c->cert, c->key) != 1 ||
	    !agent_conn_chains_to(c->cert, c->ca)) {
		snprintf(old, sizeof(old), "%s.bad", c->certpath);
		log_warnx("conn: %s does not match %s and %s: moved to %s, "
		    "enrolling again", c->certpath, c->keypath, c->capath, old);
		(void)rename(c->certpath, old);
		X509_free(c->cert);
		c->cert = NULL;
		ERR_clear_error();
		return (0);
	}
	if ((c->ctx_pinned = agent_conn_new_ctx(c, 1)) == NULL) {
		snprintf(err, errlen, "TLS context with %s failed",
		    c->certpath);
		return (-1);
	}
	return (0);
}

/* Connection life. */

static void
agent_conn_close(struct agent_conn *c)
{
	SSL	*ssl;

	if (c->bev != NULL) {
		/* A close_notify, best effort, so the server sees a clean end. */
		if (c->state != AGENT_CONN_CONNECTING &&
		    c->state != AGENT_CONN_IDLE &&
		    (ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL) {
			bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
			(void)SSL_shutdown(ssl);
			ERR_clear_error();
		}
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	evtimer_del(c->ev_beat);
	evtimer_del(c->ev_setup);
}

/* Arm the retry: back-off doubling up to the cap, with 20% jitter. */
static void
agent_conn_retry_later(struct agent_conn *c, unsigned wait)
{
	struct timeval	tv;
	uint32_t	r = 0;

	agent_conn_close(c);
	agent_conn_set_state(c, AGENT_CONN_IDLE);
	if (wait == 0) {
		wait = c->backoff;
		c->backoff = c->backoff * 2 > AGENT_CONN_BACKOFF_MAX ?
		    AGENT_CONN_BACKOFF_MAX : c->backoff * 2;
	}
	(void)crypto_random(&r, sizeof(r));
	tv.tv_sec = wait;
	tv.tv_usec = 0;
	if (wait > 1) {
		tv.tv_usec = (suseconds_t)(r % (wait * 200000u));
		tv.tv_sec = wait - wait / 5 + tv.tv_usec / 1000000;
		tv.tv_usec %= 1000000;
	}
	log_debug("conn: retry in %ld.%03ld s", (long)tv.tv_sec,
	    (long)(tv.tv_usec / 1000));
	evtimer_add(c->ev_retry, &tv);
}

/* The connection went away: tell the agent once, then retry. */
static void
agent_conn_down(struct agent_conn *c, unsigned wait, const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	was_online = c->state == AGENT_CONN_ONLINE;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Repeated failures while the server is away are logged once. */
	if (!c->logged_down || was_online)
		log_warnx("conn: %s:%u: %s; retrying", c->host, c->port, buf);
	else
		log_debug("conn: %s:%u: %s", c->host, c->port, buf);
	c->logged_down = 1;
	agent_conn_retry_later(c, wait);
	if (was_online)
		c->cb.offline(c->arg);
}

static int
agent_conn_write(struct agent_conn *c, const struct ctl_msg *m)
{
	char	err[256];

	if (c->bev == NULL)
		return (-1);
	if (ctl_write(bufferevent_get_output(c->bev), m, err,
	    sizeof(err)) == -1) {
		log_warnx("conn: cannot send %s: %s", ctl_strtype(m->type),
		    err);
		return (-1);
	}
	return (0);
}

static void
agent_conn_send_heartbeat(struct agent_conn *c)
{
	struct ctl_msg	 m;
	struct ctl_fact	*f = NULL;
	size_t		 i, n = 0;

	memset(&m, 0, sizeof(m));
	m.type = CTL_HEARTBEAT;
	m.u.heartbeat.time_ms = (uint64_t)time(NULL) * 1000;
	if (c->agent->facts_dirty) {
		n = c->agent->facts.n;
		f = xcalloc(n + 1, sizeof(*f));
		for (i = 0; i < n; i++) {
			f[i].key = c->agent->facts.v[i].key;
			f[i].value = c->agent->facts.v[i].value;
		}
		m.u.heartbeat.has_facts = 1;
		m.u.heartbeat.nfacts = n;
		m.u.heartbeat.facts = f;
	}
	if (agent_conn_write(c, &m) == 0) {
		c->beat_sent++;
		if (m.u.heartbeat.has_facts) {
			c->agent->facts_dirty = 0;
			log_debug("conn: facts sent (%zu)", n);
		}
	}
	free(f);
}

static void
agent_conn_beat_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct agent_conn	*c = arg;
	struct timeval	 tv = { c->heartbeat, 0 };

	/*
	 * Dead after AGENT_CONN_MISSED_BEATS periods in which beats went
	 * unanswered and no ack came: a time, not a number of beats, since a
	 * busy agent sends a beat after each report that matters, and eight
	 * reports in a row are not a dead server.
	 */
	if (c->beat_acked < c->beat_sent)
		c->beats_missed++;
	else
		c->beats_missed = 0;
	if (c->beats_missed >= AGENT_CONN_MISSED_BEATS) {
		agent_conn_down(c, AGENT_CONN_BACKOFF_MIN, "no answer to "
		    "heartbeats for %u s", AGENT_CONN_MISSED_BEATS *
		    c->heartbeat);
		return;
	}
	agent_conn_send_heartbeat(c);
	evtimer_add(c->ev_beat, &tv);
}

static void
agent_conn_setup_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct agent_conn	*c = arg;

	agent_conn_down(c, 0, "no answer within %d s (%s)",
	    AGENT_CONN_SETUP_TIMEOUT, agent_conn_strstate(c->state));
}

static void
agent_conn_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	agent_conn_fsm(arg, AGENT_CONN_EV_START, NULL);
}

static void
agent_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct agent_conn	*c = arg;
	struct ctl_msg	 m;
	char		 err[512];
	int		 rv;

	while (c->bev == bev) {
		rv = ctl_read(bufferevent_get_input(bev), CTL_MAX_FRAME, &m,
		    err, sizeof(err));
		if (rv == 0)
			return;
		if (rv == -1) {
			agent_conn_down(c, 0, "protocol error from the server: "
			    "%s", err);
			return;
		}
		agent_conn_fsm(c, AGENT_CONN_EV_MESSAGE, &m);
		ctl_msg_free(&m);
	}
}

static void
agent_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct agent_conn	*c = arg;
	char		 buf[512];
	unsigned long	 e;
	SSL		*ssl;
	long		 vr;

	if (what & BEV_EVENT_CONNECTED) {
		agent_conn_fsm(c, AGENT_CONN_EV_CONNECTED, NULL);
		return;
	}
	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0 && buf[0] == '\0')
		ERR_error_string_n(e, buf, sizeof(buf));
	if ((ssl = bufferevent_openssl_get_ssl(bev)) != NULL &&
	    c->cert != NULL &&
	    (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		agent_conn_down(c, 0, "the server's certificate does not "
		    "chain to the pinned CA %s (%s); if the server was "
		    "reinstalled, remove %s and %s to enroll again", c->capath,
		    X509_verify_cert_error_string(vr), c->capath, c->certpath);
		return;
	}
	if (what & BEV_EVENT_EOF)
		agent_conn_down(c, 0, "closed by the server");
	else if (what & BEV_EVENT_TIMEOUT)
		agent_conn_down(c, 0, "timed out");
	else if (what & BEV_EVENT_ERROR) {
		if (bufferevent_socket_get_dns_error(bev) != 0)
			agent_conn_down(c, 0, "cannot resolve %s: %s", c->host,
			    evutil_gai_strerror(
			    bufferevent_socket_get_dns_error(bev)));
		else
			agent_conn_down(c, 0, "%s", buf[0] != '\0' ? buf :
			    strerror(EVUTIL_SOCKET_ERROR()));
	}
}

static void
agent_conn_connect(struct agent_conn *c)
{
	struct timeval	 tv = { AGENT_CONN_SETUP_TIMEOUT, 0 };
	SSL		*ssl;

	ssl = SSL_new(c->cert != NULL ? c->ctx_pinned : c->ctx_enroll);
	if (ssl == NULL) {
		agent_conn_down(c, 0, "SSL_new failed");
		return;
	}
	c->bev = bufferevent_openssl_socket_new(c->agent->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL) {
		SSL_free(ssl);
		agent_conn_down(c, 0, "bufferevent_openssl_socket_new failed");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, agent_conn_read_cb, NULL, agent_conn_event_cb,
	    c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CTL_MAX_FRAME +
	    CTL_LEN_SIZE);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	agent_conn_set_state(c, AGENT_CONN_CONNECTING);
	evtimer_add(c->ev_setup, &tv);
	c->beat_base = c->beat_acked = c->beat_sent;
	if (bufferevent_socket_connect_hostname(c->bev, c->dns, AF_UNSPEC,
	    c->host, c->port) == -1 && c->bev != NULL)
		agent_conn_down(c, 0, "connect failed");
}

/*
 * Enrolling with a pin: is this the server?  Its handshake must carry a
 * CA certificate whose SHA-256 is the pin, and its own certificate (whose
 * key the handshake proved it holds) must chain to that CA.  1 if so;
 * else 0, and why (for the log) in why.
 */
static int
agent_conn_check_pin(struct agent_conn *c, char *why, size_t len)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(c->bev);
	STACK_OF(X509)	*chain;
	X509		*peer, *x, *ca = NULL;
	char		 fp[SHA256_LEN * 2 + 1], seen[SHA256_LEN * 2 + 1] = "";
	int		 i;

	if (ssl == NULL || (peer = SSL_get0_peer_certificate(ssl)) == NULL ||
	    (chain = SSL_get_peer_cert_chain(ssl)) == NULL) {
		snprintf(why, len, "it showed no certificate");
		return (0);
	}
	for (i = 0; i < sk_X509_num(chain) && ca == NULL; i++) {
		x = sk_X509_value(chain, i);
		agent_conn_fp_of(x, fp);
		if (strcmp(fp, c->pin) == 0)
			ca = x;
		else
			snprintf(seen, sizeof(seen), "%s", fp);
	}
	if (ca == NULL) {
		snprintf(why, len, "its certificates have fingerprint %.16s... "
		    "and no CA with the pinned fingerprint %.16s... (from "
		    "server_fingerprint or enroll_token): not the server it "
		    "was meant to be, or a man in the middle", seen, c->pin);
		return (0);
	}
	if (!agent_conn_chains_to(peer, ca)) {
		snprintf(why, len, "its certificate does not chain to the CA "
		    "with the pinned fingerprint %.16s...", c->pin);
		ERR_clear_error();
		return (0);
	}
	return (1);
}

/* CERT: check what the server gave us, store it, reconnect pinned. */
static void
agent_conn_on_cert(struct agent_conn *c, struct ctl_msg *m)
{
	X509	*cert = NULL, *ca = NULL, *peer = NULL;
	char	 err[512], fp[SHA256_LEN * 2 + 1];
	SSL	*ssl;

	if (strlen(m->u.cert.cert) > AGENT_CONN_PEM_MAX ||
	    (cert = agent_conn_x509_of(m->u.cert.cert)) == NULL ||
	    (ca = agent_conn_x509_of(m->u.cert.ca)) == NULL) {
		agent_conn_down(c, 0, "CERT: not PEM certificates");
		goto out;
	}
	ssl = bufferevent_openssl_get_ssl(c->bev);
	peer = ssl != NULL ? SSL_get1_peer_certificate(ssl) : NULL;
	if (peer == NULL || !agent_conn_chains_to(peer, ca)) {
		agent_conn_down(c, AGENT_CONN_REFUSED_WAIT, "CERT: the "
		    "server's own certificate does not chain to the CA it "
		    "sent: not pinning it");
		goto out;
	}
	agent_conn_fp_of(ca, fp);
	if (c->pin[0] != '\0' && strcmp(fp, c->pin) != 0) {
		agent_conn_down(c, AGENT_CONN_REFUSED_WAIT, "CERT: the CA it "
		    "sent has fingerprint %.16s..., not the pinned %.16s...: "
		    "not pinning it", fp, c->pin);
		goto out;
	}
	if (X509_check_private_key(cert, c->key) != 1 ||
	    !agent_conn_chains_to(cert, ca)) {
		agent_conn_down(c, AGENT_CONN_REFUSED_WAIT, "CERT: the "
		    "certificate is not for our key or not signed by the CA");
		goto out;
	}
	/* The CA first: agent.crt appearing is what marks us enrolled. */
	if (atomic_write_file(c->capath, m->u.cert.ca, strlen(m->u.cert.ca),
	    0644, err, sizeof(err)) == -1 ||
	    atomic_write_file(c->certpath, m->u.cert.cert,
	    strlen(m->u.cert.cert), 0644, err, sizeof(err)) == -1) {
		agent_conn_down(c, AGENT_CONN_BACKOFF_MAX, "storing the "
		    "certificate: %s", err);
		goto out;
	}
	if (agent_conn_load_certs(c, err, sizeof(err)) == -1 ||
	    c->cert == NULL) {
		agent_conn_down(c, AGENT_CONN_BACKOFF_MAX, "certificate "
		    "stored but not usable: %s", err);
		goto out;
	}
	log_info("conn: enrolled as %s; server CA pinned in %s",
	    c->agent->name, c->capath);
	c->backoff = AGENT_CONN_BACKOFF_MIN;
	c->logged_down = 0;
	agent_conn_retry_later(c, 1);
out:
	X509_free(cert);
	X509_free(ca);
	X509_free(peer);
	ERR_clear_error();
}

static void
agent_conn_on_error(struct agent_conn *c, struct ctl_msg *m)
{
	char	old[1024];

	switch (m->u.error.code) {
	case CTL_ERR_ENROLL_REFUSED:
		agent_conn_down(c, AGENT_CONN_REFUSED_WAIT, "enrollment "
		    "refused: %s", m->u.error.message);
		break;
	case CTL_ERR_UNKNOWN_MACHINE:
		/* The server no longer knows our certificate: enroll again. */
		snprintf(old, sizeof(old), "%s.old", c->certpath);
		(void)rename(c->certpath, old);
		X509_free(c->cert);
		c->cert = NULL;
		agent_conn_down(c, AGENT_CONN_BACKOFF_MIN, "the server does "
		    "not know this machine (%s); %s moved to %s, enrolling "
		    "again",
		    m->u.error.message, c->certpath, old);
		break;
	default:
		agent_conn_down(c, 0, "server error %u: %s", m->u.error.code,
		    m->u.error.message);
		break;
	}
}

/*
 * The hex SHA-256 of our public key (DER SubjectPublicKeyInfo), what the
 * server shows as the request's REQUEST KEY: the admin compares the two
 * before approving.
 */
static void
agent_conn_key_fp(struct agent_conn *c, char *hex)
{
	uint8_t	*der = NULL, md[SHA256_LEN];
	int	 len;

	hex[0] = '\0';
	if ((len = i2d_PUBKEY(c->key, &der)) > 0) {
		sha256(der, (size_t)len, md);
		hex_encode(md, SHA256_LEN, hex);
	}
	OPENSSL_free(der);
}

static void
agent_conn_send_enroll(struct agent_conn *c)
{
	struct ctl_msg	 m;
	const char	*token;
	char		*csr, kfp[SHA256_LEN * 2 + 1];

	if ((csr = agent_conn_make_csr(c)) == NULL) {
		agent_conn_down(c, AGENT_CONN_BACKOFF_MAX, "cannot make a CSR");
		return;
	}
	token = c->token[0] != '\0' ? c->token : NULL;
	memset(&m, 0, sizeof(m));
	m.type = CTL_ENROLL;
	m.u.enroll.name = (char *)c->agent->name;
	m.u.enroll.token = (char *)(token != NULL ? token : "");
	m.u.enroll.csr = csr;
	if (agent_conn_write(c, &m) == 0) {
		agent_conn_set_state(c, AGENT_CONN_ENROLLING);
		agent_conn_key_fp(c, kfp);
		log_info("conn: enrolling as %s, key fingerprint %s (%s; %s)",
		    c->agent->name, kfp, token != NULL ? "with enroll_token" :
		    "waiting for an admin's approval", c->pin[0] != '\0' ?
		    "server fingerprint checked" : "no server_fingerprint: "
		    "trusting the first server that answers");
	} else
		agent_conn_down(c, 0, "cannot send ENROLL");
	free(csr);
}

static void
agent_conn_send_hello(struct agent_conn *c)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_HELLO;
	m.u.hello.name = (char *)c->agent->name;
	m.u.hello.version = AGENT_VERSION;
	m.u.hello.boot_id = c->agent->boot_id;
	if (agent_conn_write(c, &m) == 0)
		agent_conn_set_state(c, AGENT_CONN_HELLO);
	else
		agent_conn_down(c, 0, "cannot send HELLO");
}

static void
agent_conn_on_welcome(struct agent_conn *c, struct ctl_msg *m)
{
	struct timeval	tv;

	c->heartbeat = m->u.welcome.heartbeat;
	if (c->heartbeat < 1)
		c->heartbeat = 1;
	if (c->heartbeat > 3600)
		c->heartbeat = 3600;
	evtimer_del(c->ev_setup);
	agent_conn_set_state(c, AGENT_CONN_ONLINE);
	c->backoff = AGENT_CONN_BACKOFF_MIN;
	c->logged_down = 0;
	log_info("conn: online with %s:%u (server %s, heartbeat %u s)",
	    c->host, c->port, m->u.welcome.version, c->heartbeat);
	c->beats_missed = 0;
	/* The first heartbeat carries the facts. */
	c->agent->facts_dirty = 1;
	agent_conn_send_heartbeat(c);
	tv.tv_sec = c->heartbeat;
	tv.tv_usec = 0;
	evtimer_add(c->ev_beat, &tv);
	c->cb.online(c->arg);
}

/*
 * The connection's state machine, on the state and then on the event (and
 * the message type for AGENT_CONN_EV_MESSAGE).  Anything unexpected closes
 * the connection; the retry timer brings it back.
 */
static void
agent_conn_fsm(struct agent_conn *c, enum agent_conn_event ev,
    struct ctl_msg *m)
{
	char	why[512];

	if (ev == AGENT_CONN_EV_START) {
		if (c->state == AGENT_CONN_IDLE)
			agent_conn_connect(c);
		return;
	}
	if (ev == AGENT_CONN_EV_MESSAGE && m->type == CTL_ERROR) {
		agent_conn_on_error(c, m);
		return;
	}
	switch (c->state) {
	case AGENT_CONN_IDLE:
		return;
	case AGENT_CONN_CONNECTING:
		if (ev == AGENT_CONN_EV_CONNECTED) {
			if (c->cert != NULL)
				agent_conn_send_hello(c);
			else if (c->pin[0] != '\0' &&
			    !agent_conn_check_pin(c, why, sizeof(why)))
				agent_conn_down(c, AGENT_CONN_REFUSED_WAIT,
				    "not enrolling with this server, nothing "
				    "sent: %s", why);
			else
				agent_conn_send_enroll(c);
			return;
		}
		break;
	case AGENT_CONN_ENROLLING:
	case AGENT_CONN_PENDING:
		if (ev != AGENT_CONN_EV_MESSAGE)
			break;
		if (m->type == CTL_ENROLL_PENDING) {
			/* The server keeps us waiting on this connection. */
			evtimer_del(c->ev_setup);
			agent_conn_set_state(c, AGENT_CONN_PENDING);
			log_info("conn: enrollment pending: %s",
			    m->u.pending.message);
			return;
		}
		if (m->type == CTL_CERT) {
			agent_conn_on_cert(c, m);
			return;
		}
		break;
	case AGENT_CONN_HELLO:
		if (ev == AGENT_CONN_EV_MESSAGE && m->type == CTL_WELCOME) {
			agent_conn_on_welcome(c, m);
			return;
		}
		break;
	case AGENT_CONN_ONLINE:
		if (ev != AGENT_CONN_EV_MESSAGE)
			break;
		switch (m->type) {
		case CTL_HEARTBEAT_ACK:
			if (c->beat_acked < c->beat_sent) {
				c->beats_missed = 0;
				c->beat_acked++;
				c->cb.synced(c->arg, c->beat_acked);
			}
			return;
		case CTL_ASSIGN:
		case CTL_START:
		case CTL_CANCEL:
		case CTL_POWER:
			c->cb.message(c->arg, m);
			return;
		default:
			break;
		}
		break;
	}
	if (ev == AGENT_CONN_EV_MESSAGE) {
		agent_conn_down(c, 0, "%s is not expected in state %s",
		    ctl_strtype(m->type), agent_conn_strstate(c->state));
		return;
	}
	agent_conn_down(c, 0, "unexpected event in state %s",
	    agent_conn_strstate(c->state));
}

/* The interface for the runs and main. */

struct agent_conn *
agent_conn_new(struct agent *a, const struct agent_conn_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct agent_conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->agent = a;
	c->cb = *cb;
	c->arg = arg;
	c->backoff = AGENT_CONN_BACKOFF_MIN;
	if (parse_hostport(conf_str(a->conf, "server"), &c->host,
	    &c->port) == -1) {
		snprintf(err, errlen, "server: '%s' is not host:port",
		    conf_str(a->conf, "server"));
		free(c);
		return (NULL);
	}
	xasprintf(&c->keypath, "%s/%s", state_dir(a->state),
	    AGENT_CONN_KEY_FILE);
	xasprintf(&c->certpath, "%s/%s", state_dir(a->state),
	    AGENT_CONN_CERT_FILE);
	xasprintf(&c->capath, "%s/%s", state_dir(a->state), AGENT_CONN_CA_FILE);
	if (agent_conn_pin(a->conf, c->pin, err, errlen) == -1) {
		agent_conn_free(c);
		return (NULL);
	}
	if (conf_str(a->conf, "enroll_token") != NULL) {
		/* On the wire, ID.SECRET: the fingerprint is ours to check. */
		struct etoken	t;

		if (etoken_parse(conf_str(a->conf, "enroll_token"), &t, err,
		    errlen) == -1) {
			agent_conn_free(c);
			return (NULL);
		}
		etoken_format(&t, 0, c->token, sizeof(c->token));
		etoken_clear(&t);
	}
	if (agent_conn_load_key(c, err, errlen) == -1 ||
	    agent_conn_load_certs(c, err, errlen) == -1 ||
	    (c->ctx_enroll = agent_conn_new_ctx(c, 0)) == NULL) {
		if (c->ctx_enroll == NULL && err[0] == '\0')
			snprintf(err, errlen, "TLS context failed");
		agent_conn_free(c);
		return (NULL);
	}
	c->dns = evdns_base_new(a->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (c->dns == NULL)
		c->dns = evdns_base_new(a->base, 0);
	c->ev_retry = evtimer_new(a->base, agent_conn_retry_cb, c);
	c->ev_beat = evtimer_new(a->base, agent_conn_beat_cb, c);
	c->ev_setup = evtimer_new(a->base, agent_conn_setup_cb, c);
	if (c->dns == NULL || c->ev_retry == NULL || c->ev_beat == NULL ||
	    c->ev_setup == NULL)
		fatalx("conn: cannot create events");
	log_info("conn: server %s:%u, %s", c->host, c->port, c->cert != NULL ?
	    "enrolled" : "not enrolled yet");
	return (c);
}

void
agent_conn_start(struct agent_conn *c)
{
	agent_conn_fsm(c, AGENT_CONN_EV_START, NULL);
}

void
agent_conn_free(struct agent_conn *c)
{
	if (c == NULL)
		return;
	agent_conn_close(c);
	if (c->ev_retry != NULL)
		event_free(c->ev_retry);
	if (c->ev_beat != NULL)
		event_free(c->ev_beat);
	if (c->ev_setup != NULL)
		event_free(c->ev_setup);
	if (c->dns != NULL)
		evdns_base_free(c->dns, 0);
	SSL_CTX_free(c->ctx_enroll);
	SSL_CTX_free(c->ctx_pinned);
	EVP_PKEY_free(c->key);
	X509_free(c->cert);
	X509_free(c->ca);
	free(c->host);
	free(c->keypath);
	free(c->certpath);
	free(c->capath);
	OPENSSL_cleanse(c->token, sizeof(c->token));
	free(c);
}

int
agent_conn_is_online(const struct agent_conn *c)
{
	return (c != NULL && c->state == AGENT_CONN_ONLINE);
}

/* Send a message when online; -1 otherwise (the caller keeps it). */
int
agent_conn_send(struct agent_conn *c, const struct ctl_msg *m)
{
	if (!agent_conn_is_online(c))
		return (-1);
	return (agent_conn_write(c, m));
}

/*
 * Send a heartbeat now and return its sequence number: once the synced
 * callback is called with a number at least this one, the server has
 * processed everything sent before.  0 when offline.
 */
uint64_t
agent_conn_sync(struct agent_conn *c)
{
	if (!agent_conn_is_online(c))
		return (0);
	agent_conn_send_heartbeat(c);
	return (c->beat_sent);
}

/* Ask for the facts to go out with the next heartbeat, or now. */
void
agent_conn_facts_changed(struct agent_conn *c)
{
	if (agent_conn_is_online(c))
		agent_conn_send_heartbeat(c);
}
