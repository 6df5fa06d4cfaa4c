/*
 * Signed update packages (.fcpkg).  A package is a fixed header, a manifest
 * in a canonical binary encoding, an Ed25519 signature over that manifest
 * and the payload: the package folder as a tar stream, optionally zstd
 * compressed, whose size and SHA-256 the manifest carries.  This header is
 * the whole interface: field validation (shared by the builder and the
 * decoder, so that both sides enforce the same rules), the manifest codec
 * and its JSON form, dependency conditions and their evaluation against a
 * machine's facts, building, streaming verification and safe extraction.
 * doc/package-format.md describes the bytes.
 */
#ifndef FC_PKG_H
#define FC_PKG_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

struct json_t;
struct wire_r;
struct wire_w;

/* File layout.  Bump PKG_FORMAT_VERSION when the layout changes. */
#define PKG_MAGIC		"\x89" "FCPKG\r\n"
#define PKG_MAGIC_LEN		8
#define PKG_FORMAT_VERSION	1
#define PKG_HEADER_LEN		16
#define PKG_MANIFEST_MAX	(1024 * 1024)
/* Bump PKG_MANIFEST_VERSION (and the domain string) when the codec changes. */
#define PKG_MANIFEST_VERSION	1
#define PKG_SIG_DOMAIN		"fleetcast package manifest v1"

/* Field limits (MISSION.md P1-P10), in bytes unless said otherwise. */
#define PKG_ID_MAX		63
#define PKG_COMPANY_MAX		127
#define PKG_SUMMARY_MAX		511
#define PKG_KB_MAX		31
#define PKG_PATH_MAX		4095	/* executable and payload paths */
#define PKG_ARG_MAX		4095	/* one setup parameter */
#define PKG_ARGS_MAX		256	/* number of setup parameters */
#define PKG_NAME_MAX		127	/* one OS or language name */
#define PKG_LIST_MAX		64	/* entries of os, lang, supersedes, requires */
#define PKG_FACT_MAX		63
#define PKG_VALUE_MAX		255
#define PKG_DEPTH_MAX		64	/* directory nesting in a payload */

/* Return values of the functions that can blame either input or the system. */
#define PKG_EFAIL		-1	/* the operation failed (I/O, crypto) */
#define PKG_EINPUT		-2	/* the input is invalid: exit status 2 */

enum pkg_type {
	PKG_SERVICEPACK = 1,
	PKG_HOTFIX = 2,
	PKG_APPLICATION = 3,
};

enum pkg_urgency {
	PKG_URGENCY_HIGHEST = 1,
	PKG_URGENCY_HIGH = 2,
	PKG_URGENCY_NORMAL = 3,
	PKG_URGENCY_LOW = 4,
};

enum pkg_compression {
	PKG_COMPRESS_NONE = 0,
	PKG_COMPRESS_ZSTD = 1,
};

enum pkg_cond_op {
	PKG_COND_EXISTS = 1,
	PKG_COND_EQ = 2,
	PKG_COND_GE = 3,
	PKG_COND_ANY = 4,	/* one of sub[0..nsub) holds */
	PKG_COND_NOT = 5,	/* sub[0] does not hold */
};

#define PKG_COND_DEPTH_MAX	8	/* any/not nesting */
#define PKG_COND_TEXT_MAX	2048	/* a condition's canonical text */

#define PKG_F_REBOOT		0x01	/* reboot after install */
#define PKG_F_EXCLUSIVE		0x02	/* applied alone, after a reboot */
#define PKG_F_IDEMPOTENT	0x04	/* safe to run twice */
#define PKG_F_ALL		0x07

struct pkg_cond {
	enum pkg_cond_op	 op;
	char			*fact;		/* NULL for any, not */
	char			*value;		/* NULL for exists, any, not */
	struct pkg_cond		*sub;		/* any: nsub terms; not: one */
	size_t			 nsub;
};

struct pkg_list {
	char			**v;
	size_t			  n;
};

struct pkg_manifest {
	char			 id[PKG_ID_MAX + 1];
	enum pkg_type		 type;
	enum pkg_urgency	 urgency;
	uint8_t			 flags;		/* PKG_F_* */
	int			 has_version;
	uint16_t		 major;
	uint16_t		 minor;
	uint16_t		 year;		/* 0: no release date */
	uint8_t			 month;
	uint8_t			 day;
	char			 company[PKG_COMPANY_MAX + 1];
	char			 summary[PKG_SUMMARY_MAX + 1];
	char			 kb[PKG_KB_MAX + 1];
	char			*exec;
	struct pkg_list		 args;
	struct pkg_list		 os;
	struct pkg_list		 lang;
	char			 base_sp[PKG_ID_MAX + 1];	/* "": none */
	struct pkg_list		 supersedes;
	struct pkg_cond		*requires;
	size_t			 nrequires;
	enum pkg_compression	 compression;
	uint64_t		 payload_size;
	uint8_t			 payload_sha256[SHA256_LEN];
	uint64_t		 unpacked_size;	/* sum of regular file sizes */
	uint64_t		 entries;	/* tar entries in the payload */
	uint64_t		 built_at;	/* seconds since the epoch, UTC */
	uint8_t			 key_id[KEYID_LEN];
};

/*
 * One field at a time (pkg_field.c).  name is how the caller calls the
 * field in messages ("--id" in the CLI, "id" when decoding); each failure
 * writes one sentence naming the field, what is wrong with the value and
 * the rule.  They return 0 or -1.
 */
int	 pkg_field_check_id(const char *, const char *, char *, size_t);
int	 pkg_field_check_text(const char *, const char *, size_t, int, char *,
	    size_t);
int	 pkg_field_check_relpath(const char *, const char *, char *, size_t);
int	 pkg_field_check_symlink(const char *, const char *, char *, size_t);
int	 pkg_field_all_zero(const uint8_t *, size_t);
int	 pkg_field_date_valid(int, int, int);
int	 pkg_field_parse_date(const char *, const char *, struct pkg_manifest *,
	    char *, size_t);
int	 pkg_field_parse_type(const char *, const char *, enum pkg_type *,
	    char *, size_t);
int	 pkg_field_parse_urgency(const char *, const char *, enum pkg_urgency *,
	    char *, size_t);
int	 pkg_field_parse_u16(const char *, const char *, uint16_t *, char *,
	    size_t);
int	 pkg_field_list_add(const char *, struct pkg_list *, const char *,
	    size_t, char *, size_t);
void	 pkg_field_list_free(struct pkg_list *);

const char *pkg_field_type_name(enum pkg_type);
const char *pkg_field_urgency_name(enum pkg_urgency);
const char *pkg_field_compression_name(enum pkg_compression);
void	 pkg_field_format_date(const struct pkg_manifest *, char *, size_t);

/*
 * The manifest itself (pkg_manifest.c): every rule on a filled manifest,
 * canonical encoding, strict decoding, JSON.
 */
int	 pkg_manifest_check(const struct pkg_manifest *, int, char *, size_t);
void	 pkg_manifest_init(struct pkg_manifest *);
void	 pkg_manifest_free(struct pkg_manifest *);
void	 pkg_manifest_encode(const struct pkg_manifest *, struct wire_w *);
int	 pkg_manifest_decode(struct pkg_manifest *, const void *, size_t,
	    char *, size_t);
int	 pkg_manifest_verify(struct pkg_manifest *, const void *, size_t,
	    const uint8_t [ED25519_SIG_LEN], const uint8_t (*)[ED25519_PUB_LEN],
	    size_t, char *, size_t);
struct json_t *pkg_manifest_to_json(const struct pkg_manifest *);

/*
 * Conditions ("FACT exists", "FACT == V", "FACT >= V", "any(A, B)", "not
 * A") and their evaluation
 * against a facts lookup that returns a fact's value or NULL when the
 * machine does not have it.  >= compares versions the way dpkg does.
 */
typedef const char *(*pkg_fact_fn)(void *, const char *);

int	 pkg_cond_parse(const char *, const char *, struct pkg_cond *, char *,
	    size_t);
void	 pkg_cond_free(struct pkg_cond *);
size_t	 pkg_cond_format(const struct pkg_cond *, char *, size_t);
int	 pkg_cond_equal(const struct pkg_cond *, const struct pkg_cond *);
int	 pkg_cond_check(const char *, const struct pkg_cond *, char *, size_t);
void	 pkg_cond_encode(const struct pkg_cond *, struct wire_w *);
int	 pkg_cond_decode(struct wire_r *, struct pkg_cond *, char *, size_t);
int	 pkg_cond_eval(const struct pkg_cond *, pkg_fact_fn, void *, char *,
	    size_t);
int	 pkg_requires_eval(const struct pkg_manifest *, pkg_fact_fn, void *,
	    char *, size_t);
int	 pkg_vercmp(const char *, const char *);

/*
 * What a lookup answers for pkg.ID when the machine lacks ID but holds a
 * package that supersedes it (pkg_applic.c): every condition on the fact
 * holds then, as the superseding package replaced ID.  Compared by
 * address; the text is what a reason shows.
 */
extern const char pkg_fact_superseded[];

/*
 * Applicability (pkg_applic.c), shared by the agent's check and the
 * server's automatic update so that both give the same reason.  A
 * machine is its facts (a lookup) and its installed packages; supersedes
 * may be NULL when not known.  pkg_applic_check returns 1 when the
 * package applies, else 0 with one sentence in why.
 */
struct pkg_installed {
	const char		*id;
	int			 has_version;
	uint16_t		 major;
	uint16_t		 minor;
	const struct pkg_list	*supersedes;
};

int	 pkg_applic_os_match(const char *, const char *, const char *);
int	 pkg_applic_lang_match(const char *, const char *);
const struct pkg_installed *pkg_applic_superseder(
	    const struct pkg_installed *, size_t, const char *);
int	 pkg_applic_check(const struct pkg_manifest *, pkg_fact_fn, void *,
	    const struct pkg_installed *, size_t, char *, size_t);

/*
 * Building: the manifest's descriptive fields are filled and checked by
 * the caller; pkg_build walks the folder, streams the payload into a temp
 * file next to the output while hashing it, fills in the payload fields
 * and the key id, signs, and renames the file into place.  On failure
 * nothing is left behind; the result is 0, PKG_EINPUT or PKG_EFAIL.
 */
int	 pkg_build(struct pkg_manifest *, const char *, const char *,
	    const uint8_t [ED25519_PRIV_LEN], char *, size_t);
/* Several folders, each under its own name (doc/package-format.md). */
int	 pkg_build_dirs(struct pkg_manifest *, const char *const *, size_t,
	    const char *, const uint8_t [ED25519_PRIV_LEN], char *, size_t);

/*
 * Reading.  pkg_open checks the header and, unless PKG_OPEN_NOVERIFY is
 * given, the manifest's signature against the trusted keys over its raw
 * bytes before it decodes them (pkg_manifest_verify), then the file size
 * and the payload's SHA-256 (streamed, bounded memory); with
 * PKG_OPEN_NOVERIFY it only decodes (inspect, or a copy verified before).  Errors begin with the check that failed ("signature: ...",
 * "payload: ...", "key: ...", "truncated: ...").  pkg_extract unpacks the
 * payload into a new directory (which must not exist), hashing it again
 * on the way; on any failure the directory is removed.  It changes the
 * working directory for its duration, so it is not thread-safe.
 * PKG_OPEN_PAYLOAD_VERIFIED: the caller hashed the payload against the
 * signed payload_sha256 itself as it wrote the file (the agent, while
 * receiving); everything else is checked, the payload is not hashed again,
 * neither here nor by pkg_extract.
 */
#define PKG_OPEN_NOVERIFY	0x01
#define PKG_OPEN_PAYLOAD_VERIFIED 0x02

struct pkg;

int	 pkg_open(struct pkg **, const char *, const uint8_t (*)[ED25519_PUB_LEN],
	    size_t, int, char *, size_t);
void	 pkg_close(struct pkg *);
const struct pkg_manifest *pkg_get_manifest(const struct pkg *);
const uint8_t *pkg_get_manifest_raw(const struct pkg *, size_t *);
const uint8_t *pkg_get_signature(const struct pkg *);
uint64_t pkg_get_payload_offset(const struct pkg *);
int	 pkg_extract(struct pkg *, const char *, char *, size_t);
int	 pkg_remove_tree(const char *);

#endif
