/*
 * TLS for the HTTP API (issue #14): the API carries the admin token and
 * every answer of the console, so it is plain HTTP only on a loopback
 * address.  Anywhere else the server refuses to start unless the API has
 * a certificate: api_tls_cert and api_tls_key (PEM files, the chain in
 * the certificate file), or api_tls = ca, which serves the certificate
 * the server's own CA issued for fleetcastd (state_dir/server.crt, the
 * one agents see; a client trusts state_dir/ca.crt).  The context is
 * built once at start-up; api.c wraps each connection in it.
 */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "api_int.h"
#include "conf.h"
#include "server.h"

/* Is host (as api_listen gives it) a loopback address? */
int
api_tls_loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (strcasecmp(host, "localhost") == 0)
		return (1);
	if (inet_pton(AF_INET, host, &a4) == 1)
		return ((ntohl(a4.s_addr) >> 24) == 127);
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return (IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) &&
		    a6.s6_addr[12] == 127));
	return (0);
}

static int
api_tls_fail(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long	e = ERR_get_error();
	char		buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s: %s", what, path, e != 0 ? buf :
	    "cannot be used");
	ERR_clear_error();
	return (-1);
}

/* The server CA's certificate as the chain's next link (api_tls = ca). */
static int
api_tls_chain(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	FILE	*f;
	X509	*x;
	int	 rv;

	if ((f = fopen(path, "r")) == NULL)
		return (api_tls_fail(err, errlen, "api_tls", path));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	rv = x != NULL && SSL_CTX_add1_chain_cert(ctx, x) == 1 ? 0 : -1;
	X509_free(x);
	return (rv == 0 ? 0 : api_tls_fail(err, errlen, "api_tls", path));
}

/*
 * The API's TLS context into *out, or NULL for plain HTTP on loopback;
 * -1 with err when the configuration does not allow the server to start.
 */
int
api_tls_setup(struct server *srv, const char *host, struct ssl_ctx_st **out,
    char *err, size_t errlen)
{
	const char	*cert = conf_str(srv->conf, "api_tls_cert");
	const char	*key = conf_str(srv->conf, "api_tls_key");
	const char	*mode = conf_str(srv->conf, "api_tls");
	char		 cpath[4096], kpath[4096], capath[4096];
	int		 ca = mode != NULL && strcmp(mode, "ca") == 0;
	SSL_CTX		*ctx;

	*out = NULL;
	if (cert != NULL && cert[0] == '\0')
		cert = NULL;
	if (key != NULL && key[0] == '\0')
		key = NULL;
	if ((cert == NULL) != (key == NULL)) {
		snprintf(err, errlen, "api_tls_cert and api_tls_key: set both "
		    "(the certificate and its key) or neither");
		return (-1);
	}
	if (ca && cert != NULL) {
		snprintf(err, errlen, "api_tls = ca and api_tls_cert: choose "
		    "one (the server CA's certificate, or your own)");
		return (-1);
	}
	if (ca) {
		snprintf(cpath, sizeof(cpath), "%s/server.crt", srv->state_dir);
		snprintf(kpath, sizeof(kpath), "%s/server.key", srv->state_dir);
		snprintf(capath, sizeof(capath), "%s/ca.crt", srv->state_dir);
		cert = cpath;
		key = kpath;
	}
	if (cert == NULL) {
		if (api_tls_loopback(host))
			return (0);
		snprintf(err, errlen, "api_listen: %s is not a loopback "
		    "address, and the API carries the admin token: set "
		    "api_tls_cert and api_tls_key (a certificate for this "
		    "host), or api_tls = ca (the certificate of the server's "
		    "own CA; clients trust state_dir/ca.crt)",
		    conf_str(srv->conf, "api_listen"));
		return (-1);
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return (api_tls_fail(err, errlen, "api_tls", "context"));
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		SSL_CTX_free(ctx);
		return (api_tls_fail(err, errlen, "api_tls", "TLS 1.2"));
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		api_tls_fail(err, errlen, ca ? "api_tls" : "api_tls_cert",
		    cert);
		SSL_CTX_free(ctx);
		return (-1);
	}
	if (ca && api_tls_chain(ctx, capath, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return (-1);
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		api_tls_fail(err, errlen, ca ? "api_tls" : "api_tls_key", key);
		SSL_CTX_free(ctx);
		return (-1);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	*out = ctx;
	return (0);
}
