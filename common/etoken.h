/*
 * Enrollment tokens: the string an admin gives an agent (enroll_token) so
 * that it enrolls without waiting for an approval.  It is ID.SECRET.FP: a
 * public id the server finds the token by, a secret the server keeps only
 * the SHA-256 of, and the SHA-256 of the server's CA certificate, which the
 * agent pins before it sends the secret (the idea of kubeadm's
 * --discovery-token-ca-cert-hash, in one string).  On the wire the agent
 * sends ID.SECRET only.
 */
#ifndef FC_ETOKEN_H
#define FC_ETOKEN_H

#include <stddef.h>
#include <stdint.h>

#define ETOKEN_ID_LEN		8	/* bytes, 16 hex digits */
#define ETOKEN_SECRET_LEN	16	/* bytes, 32 hex digits */
#define ETOKEN_FP_HEX		64	/* the CA's SHA-256 in hex */
#define ETOKEN_MAX		(2 * ETOKEN_ID_LEN + 1 + 2 * ETOKEN_SECRET_LEN + \
				    1 + ETOKEN_FP_HEX + 1)

struct etoken {
	char	 id[2 * ETOKEN_ID_LEN + 1];
	uint8_t	 secret[ETOKEN_SECRET_LEN];
	char	 fp[ETOKEN_FP_HEX + 1];		/* "" when not carried */
};

int	 etoken_new(struct etoken *, const char *);
int	 etoken_parse(const char *, struct etoken *, char *, size_t);
int	 etoken_parse_fp(const char *, char *, char *, size_t);
void	 etoken_format(const struct etoken *, int, char *, size_t);
void	 etoken_hash(const struct etoken *, uint8_t [32]);
void	 etoken_clear(struct etoken *);

#endif
