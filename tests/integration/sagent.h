/*
 * The scripted agent: what a fake machine says on fleetcastd's control
 * channel (common/ctl.h), shared by tests/integration/test_api (one agent
 * at a time, blocking, a script of checks) and bench/fakeagents (a
 * thousand agents on one libevent loop).  It holds the machine's identity
 * (name, P-256 key, the certificate enrollment gave it, the boot id its
 * HELLO says) and builds the agent's side of the protocol: the TLS 1.3
 * client context, the CSR, ENROLL, HELLO, HEARTBEAT and REPORT.  How the
 * bytes travel is the program's: each message goes down through the send
 * callback, so that the same agent runs over a blocking SSL socket or a
 * bufferevent.
 */
#ifndef FC_SAGENT_H
#define FC_SAGENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ctl.h"

struct sagent;

/* The transport: sends one message; 0, or -1 when it could not. */
typedef int (*sagent_send_cb)(struct sagent *, const struct ctl_msg *);

struct sagent {
	char		 name[64];
	char		 boot[32];	/* HELLO's boot id */
	const char	*version;	/* HELLO's agent version */
	EVP_PKEY	*key;		/* made on first use */
	X509		*cert;		/* from CERT; NULL before */
	sagent_send_cb	 send;
	void		*arg;		/* the program's, for send */
};

void	 sagent_init(struct sagent *, const char *, const char *,
	    const char *, sagent_send_cb, void *);
void	 sagent_free(struct sagent *);
void	 sagent_keygen(struct sagent *);
char	*sagent_csr(struct sagent *);
X509	*sagent_pem_x509(const char *);
int	 sagent_take_cert(struct sagent *, const struct ctl_msg *);
SSL_CTX	*sagent_tls_ctx(int);

int	 sagent_send_enroll(struct sagent *, const char *);
int	 sagent_send_hello(struct sagent *, const char *);
int	 sagent_send_heartbeat(struct sagent *, uint64_t,
	    const struct ctl_fact *, size_t);
int	 sagent_send_report(struct sagent *, uint64_t, uint8_t, int,
	    const char *, uint64_t);

#endif
