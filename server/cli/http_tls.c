/*
 * TLS for the CLI's HTTP client (https:// in --api): fleetcastd refuses a
 * non-loopback API without TLS, so the CLI must speak it, and verify it,
 * or the admin token goes to whoever answers.  TLS 1.2 or later, the
 * certificate verified against --ca / $FLEETCAST_API_CA when given, else
 * against the system CAs and, on the server's own host, the server CA
 * (state_dir/ca.crt, the one api_tls = ca serves from), and the host of
 * the URL checked against it (a name, or an IP address).  http.c calls
 * this with a connected non-blocking socket and reads and writes through
 * it; each wait is bounded as the plain socket's are.
 */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "conf.h"
#include "xmalloc.h"

const char *cli_api_ca;		/* --ca FILE; NULL: see http_tls_trust() */

struct http_tls {
	SSL_CTX	*ctx;
	SSL	*ssl;
	int	 fd;
};

/* Wait until fd is ready for ev, at most ms; -1 (ETIMEDOUT) if not. */
int
http_tls_poll(int fd, short ev, int ms)
{
	struct pollfd	pfd = { fd, ev, 0 };
	int		rv;

	while ((rv = poll(&pfd, 1, ms)) == -1 && errno == EINTR)
		;
	if (rv == 0)
		errno = ETIMEDOUT;
	return (rv > 0 ? 0 : -1);
}

/* Wait for what OpenSSL asked for (ssl_err), at most ms. */
static int
http_tls_wait(struct http_tls *t, int ssl_err, int ms)
{
	return (http_tls_poll(t->fd, ssl_err == SSL_ERROR_WANT_WRITE ?
	    POLLOUT : POLLIN, ms));
}

/* The first OpenSSL error queued as text ("" if none); clears the queue. */
static void
http_tls_ossl(char *buf, size_t len)
{
	unsigned long	e = ERR_get_error();

	buf[0] = '\0';
	if (e != 0)
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/*
 * The CAs to trust: the one file the admin named, or the system's plus
 * the server's own CA when its config on this host names a state_dir
 * holding one.  Both, because the API may serve the server CA's
 * certificate (api_tls = ca) or one the admin got elsewhere.
 */
static int
http_tls_trust(SSL_CTX *ctx, char *err, size_t errlen)
{
	const char	*ca = cli_api_ca, *how = "--ca";
	char		*dir, path[512], why[256];

	if (ca == NULL) {
		how = "FLEETCAST_API_CA";
		if ((ca = getenv(how)) != NULL && *ca == '\0')
			ca = NULL;
	}
	if (ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			http_tls_ossl(why, sizeof(why));
			snprintf(err, errlen, "%s: %s: cannot load CA "
			    "certificates: %s", how, ca, why[0] != '\0' ? why :
			    strerror(errno));
			return (-1);
		}
		return (0);
	}
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		ERR_clear_error();	/* no system CAs: the server's may do */
	if ((dir = conf_peek(cli_server_conf(), "state_dir")) == NULL)
		return (0);
	if ((size_t)snprintf(path, sizeof(path), "%s/ca.crt", dir) <
	    sizeof(path) && access(path, R_OK) == 0 &&
	    SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
		http_tls_ossl(why, sizeof(why));
		snprintf(err, errlen, "the server CA %s (state_dir of the "
		    "server's config): cannot load: %s", path, why);
		free(dir);
		return (-1);
	}
	free(dir);
	return (0);
}

/* Why the handshake failed, in words that name what to fix. */
static void
http_tls_why(struct http_tls *t, const char *host, int rv, char *err,
    size_t errlen)
{
	long	vr = SSL_get_verify_result(t->ssl);
	char	buf[256];

	if (vr == X509_V_ERR_HOSTNAME_MISMATCH ||
	    vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
		snprintf(err, errlen, "API %s: TLS: name mismatch: the "
		    "server's certificate is not for '%s'", cli_api_url, host);
	else if (vr != X509_V_OK)
		snprintf(err, errlen, "API %s: TLS: certificate verify "
		    "failed: %s (the CA to trust: --ca FILE or "
		    "FLEETCAST_API_CA)", cli_api_url,
		    X509_verify_cert_error_string(vr));
	else {
		http_tls_ossl(buf, sizeof(buf));
		snprintf(err, errlen, "API %s: TLS handshake failed: %s",
		    cli_api_url, buf[0] != '\0' ? buf : rv == 0 ?
		    "connection closed (is it an https:// server?)" :
		    strerror(errno));
	}
}

void
http_tls_close(struct http_tls *t)
{
	if (t == NULL)
		return;
	if (t->ssl != NULL)
		SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	free(t);
}

/*
 * TLS on the connected socket fd to host: NULL (err says why) unless the
 * handshake succeeded and the certificate is trusted and names host.
 */
struct http_tls *
http_tls_open(int fd, const char *host, int wait_ms, char *err, size_t errlen)
{
	struct http_tls	*t = xcalloc(1, sizeof(*t));
	unsigned char	 ip[16];
	int		 rv, e, isip;

	t->fd = fd;
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "TLS: cannot make a context");
		free(t);
		return (NULL);
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	/* fleetcastd closes after the response without close_notify. */
	SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (http_tls_trust(t->ctx, err, errlen) == -1)
		goto fail;
	if ((t->ssl = SSL_new(t->ctx)) == NULL ||
	    SSL_set_fd(t->ssl, fd) != 1) {
		snprintf(err, errlen, "TLS: cannot make a session");
		goto fail;
	}
	isip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	if (isip)
		rv = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
		    host);
	else
		rv = SSL_set1_host(t->ssl, host) &&
		    SSL_set_tlsext_host_name(t->ssl, host);
	if (rv != 1) {
		snprintf(err, errlen, "TLS: cannot check the name '%s'", host);
		goto fail;
	}
	while ((rv = SSL_connect(t->ssl)) != 1) {
		e = SSL_get_error(t->ssl, rv);
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    http_tls_wait(t, e, wait_ms) == -1) {
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				snprintf(err, errlen, "API %s: TLS handshake: "
				    "%s", cli_api_url, strerror(errno));
			else
				http_tls_why(t, host, rv, err, errlen);
			goto fail;
		}
	}
	return (t);
fail:
	ERR_clear_error();
	http_tls_close(t);
	return (NULL);
}

/* Write all of buf; -1 (errno set) on failure or after wait_ms idle. */
int
http_tls_write(struct http_tls *t, const void *buf, size_t len, int wait_ms)
{
	const char	*p = buf;
	int		 n, e;

	while (len > 0) {
		n = SSL_write(t->ssl, p, len > 65536 ? 65536 : (int)len);
		if (n > 0) {
			p += n;
			len -= n;
			continue;
		}
		e = SSL_get_error(t->ssl, n);
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)) {
			ERR_clear_error();
			if (e != SSL_ERROR_SYSCALL || errno == 0)
				errno = EPROTO;
			return (-1);
		}
		if (http_tls_wait(t, e, wait_ms) == -1)
			return (-1);
	}
	return (0);
}

/* Read up to len bytes: the count, 0 at the end, -1 (errno set). */
ssize_t
http_tls_read(struct http_tls *t, void *buf, size_t len, int wait_ms)
{
	int	n, e;

	for (;;) {
		n = SSL_read(t->ssl, buf, len > 65536 ? 65536 : (int)len);
		if (n > 0)
			return (n);
		e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_ZERO_RETURN)
			return (0);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			ERR_clear_error();
			/*
			 * A close without close_notify (SSL_OP_IGNORE_
			 * UNEXPECTED_EOF): the end, as for plain HTTP;
			 * http.c checks the body against Content-Length.
			 */
			if (e == SSL_ERROR_SYSCALL && errno == 0)
				return (0);
			if (e != SSL_ERROR_SYSCALL)
				errno = EPROTO;
			return (-1);
		}
		if (http_tls_wait(t, e, wait_ms) == -1)
			return (-1);
	}
}
