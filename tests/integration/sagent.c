/*
 * The scripted agent's identity and its messages (sagent.h): the parts of
 * the control protocol that test_api and bench/fakeagents say alike, so
 * that a change to ENROLL, HELLO, HEARTBEAT or REPORT is made once for
 * both.  Nothing here reads or writes a socket: each message is handed to
 * the program's send callback, which frames it for its own transport.  A
 * key or a CSR that cannot be made is fatal, as running out of memory is:
 * neither program can go on without one.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ctl.h"
#include "log.h"
#include "sagent.h"
#include "xmalloc.h"

/* The name, and what HELLO says; the key is made on first use. */
void
sagent_init(struct sagent *a, const char *name, const char *version,
    const char *boot, sagent_send_cb send, void *arg)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->boot, sizeof(a->boot), "%s", boot);
	a->version = version;
	a->send = send;
	a->arg = arg;
}

void
sagent_free(struct sagent *a)
{
	EVP_PKEY_free(a->key);
	X509_free(a->cert);
	a->key = NULL;
	a->cert = NULL;
}

/* A P-256 key, as the real agent makes, unless the agent has one. */
void
sagent_keygen(struct sagent *a)
{
	if (a->key == NULL &&
	    (a->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		fatalx("%s: cannot generate a key", a->name);
}

/* A PEM certificate request for the agent's key, CN = its name. */
char *
sagent_csr(struct sagent *a)
{
	X509_REQ	*req;
	X509_NAME	*n;
	BIO		*b;
	char		*p, *s = NULL;
	long		 len;

	sagent_keygen(a);
	if ((req = X509_REQ_new()) == NULL || (b = BIO_new(BIO_s_mem())) ==
	    NULL)
		fatalx("%s: out of memory for the CSR", a->name);
	n = X509_REQ_get_subject_name(req);
	if (X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)a->name, -1, -1, 0) == 1 &&
	    X509_REQ_set_pubkey(req, a->key) == 1 &&
	    X509_REQ_sign(req, a->key, EVP_sha256()) > 0 &&
	    PEM_write_bio_X509_REQ(b, req) == 1 &&
	    (len = BIO_get_mem_data(b, &p)) > 0) {
		s = xmalloc((size_t)len + 1);
		memcpy(s, p, (size_t)len);
		s[len] = '\0';
	}
	BIO_free(b);
	X509_REQ_free(req);
	if (s == NULL)
		fatalx("%s: cannot make a CSR", a->name);
	return (s);
}

/* One certificate from PEM text; NULL when there is none. */
X509 *
sagent_pem_x509(const char *pem)
{
	BIO	*b;
	X509	*x;

	b = BIO_new_mem_buf(pem, -1);
	x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return (x);
}

/* Keep the certificate of a CERT; -1 when it cannot be read. */
int
sagent_take_cert(struct sagent *a, const struct ctl_msg *m)
{
	X509_free(a->cert);
	a->cert = sagent_pem_x509(m->u.cert.cert);
	return (a->cert != NULL ? 0 : -1);
}

/*
 * A TLS 1.3 client context, as the agent's.  Enrollment trusts the server
 * once (verify 0); after it, a program that pins the CA of its first
 * certificate verifies the server against it (verify 1).
 */
SSL_CTX *
sagent_tls_ctx(int verify)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return (NULL);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	return (ctx);
}

/* ENROLL with a CSR for the agent's key; token "" waits for an admin. */
int
sagent_send_enroll(struct sagent *a, const char *token)
{
	struct ctl_msg	 m;
	char		*csr;
	int		 rv;

	csr = sagent_csr(a);
	memset(&m, 0, sizeof(m));
	m.type = CTL_ENROLL;
	m.u.enroll.name = a->name;
	m.u.enroll.token = (char *)token;
	m.u.enroll.csr = csr;
	rv = a->send(a, &m);
	free(csr);
	return (rv);
}

/* HELLO as name (a test may claim another machine's). */
int
sagent_send_hello(struct sagent *a, const char *name)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_HELLO;
	m.u.hello.name = (char *)name;
	m.u.hello.version = (char *)a->version;
	m.u.hello.boot_id = a->boot;
	return (a->send(a, &m));
}

/* A HEARTBEAT at the agent's clock time_ms, with n facts when facts. */
int
sagent_send_heartbeat(struct sagent *a, uint64_t time_ms,
    const struct ctl_fact *facts, size_t n)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_HEARTBEAT;
	m.u.heartbeat.time_ms = time_ms;
	if (facts != NULL) {
		m.u.heartbeat.has_facts = 1;
		m.u.heartbeat.nfacts = n;
		m.u.heartbeat.facts = (struct ctl_fact *)facts;
	}
	return (a->send(a, &m));
}

/*
 * A REPORT of run in state (enum ctl_rstate), with exit_status when it is
 * not negative, the reason msg (NULL: none) and the bytes received.
 */
int
sagent_send_report(struct sagent *a, uint64_t run, uint8_t state,
    int exit_status, const char *msg, uint64_t bytes)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_REPORT;
	m.u.report.run_id = run;
	m.u.report.state = state;
	m.u.report.has_exit = exit_status >= 0;
	m.u.report.exit_status = exit_status >= 0 ? exit_status : 0;
	m.u.report.message = (char *)(msg != NULL ? msg : "");
	m.u.report.output = (char *)"";
	m.u.report.bytes = bytes;
	return (a->send(a, &m));
}
