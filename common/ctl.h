/*
 * The control channel between fleetcastd and fleetcast-agent: the one
 * header that defines its wire format.  Every message is a frame of a
 * 32-bit big-endian length followed by that many bytes: a protocol version,
 * a message type and the type's fields, all decoded with the bounds-checked
 * wire_get_* readers into a struct ctl_msg.  Any change to a message, a
 * constant or a limit below changes the wire: bump CTL_VERSION when changed,
 * and update doc/control-protocol.md in the same commit.
 */
#ifndef FC_CTL_H
#define FC_CTL_H

#include <stddef.h>
#include <stdint.h>

#define CTL_VERSION		3	/* bump when changed */

#define CTL_LEN_SIZE		4	/* the frame's length prefix */
#define CTL_MAX_STR		4096	/* any text field, bytes */
#define CTL_MAX_NAME		255	/* machine and scenario names */
#define CTL_MAX_FACTS		256	/* facts in one heartbeat */
#define CTL_MAX_FACT_KEY	128
#define CTL_MAX_FACT_VALUE	1024
#define CTL_MAX_PEM		16384	/* a CSR, a certificate */
#define CTL_MAX_PKGS		16	/* packages in one scenario */
/* S13: next-boot scenarios a machine holds before it restarts (the agent
 * enforces it, the simulator models it). */
#define CTL_PENDING_CAP		100
#define CTL_MAX_MANIFEST	(1024 * 1024)	/* = PKG_MANIFEST_MAX */
#define CTL_KEY_LEN		32	/* AES-256-GCM data key of a run */
#define CTL_HASH_LEN		32	/* SHA-256 */
#define CTL_SIG_LEN		64	/* Ed25519 signature of a manifest */

/*
 * The largest frame (after the prefix): an ASSIGN with CTL_MAX_PKGS full
 * manifests and room for the other fields.  What an agent sends is far
 * smaller, so the server reads with the tighter CTL_MAX_AGENT_FRAME and
 * holds at most that much per connection.
 */
#define CTL_MAX_FRAME		(CTL_MAX_PKGS * (CTL_MAX_MANIFEST + 1024u) + \
				    65536u)
#define CTL_MAX_AGENT_FRAME	(512u * 1024)

enum ctl_type {
	CTL_ENROLL = 1,		/* agent: name, token, CSR */
	CTL_ENROLL_PENDING,	/* server: waiting for admin approval */
	CTL_CERT,		/* server: signed certificate + CA */
	CTL_HELLO,		/* agent (with its certificate): who I am */
	CTL_WELCOME,		/* server: accepted, heartbeat interval */
	CTL_HEARTBEAT,		/* agent: alive, maybe new facts */
	CTL_HEARTBEAT_ACK,	/* server: heard you */
	CTL_ASSIGN,		/* server: take part in a run */
	CTL_START,		/* server: the transfer of a package starts */
	CTL_CANCEL,		/* server: leave the run (missed, error) */
	CTL_REPORT,		/* agent: state of a run on this machine */
	CTL_ERROR,		/* either: fatal protocol error, then close */
	CTL_POWER,		/* server: reboot or power off, now (M2) */
	CTL_POWER_DONE,		/* agent: what the command did */
};
#define CTL_TYPE_MAX		CTL_POWER_DONE

/* What POWER asks (an admin's machine reboot / poweroff, M2). */
enum ctl_power {
	CTL_POWER_REBOOT = 1,
	CTL_POWER_POWEROFF = 2,
};

/* How the data of a run reaches a machine. */
enum ctl_path {
	CTL_PATH_MULTICAST = 0,
	CTL_PATH_UNICAST = 1,
};

/* Scenario options carried by ASSIGN (bit flags). */
#define CTL_OPT_AT_NEXT_BOOT	0x01
#define CTL_OPT_REBOOT_AFTER	0x02
#define CTL_OPT_POWEROFF_AFTER	0x04
#define CTL_OPT_STOP_ON_ERROR	0x08
#define CTL_OPT_MASK		0x0f

/* What an agent reports about a run (REPORT). */
enum ctl_rstate {
	CTL_RS_READY = 1,	/* applicable, joined the group */
	CTL_RS_RECEIVING,	/* data arriving; bytes tells how much */
	CTL_RS_DELIVERED,	/* received and verified */
	CTL_RS_RUNNING,		/* executable started */
	CTL_RS_PENDING_BOOT,	/* queued for the next start */
	CTL_RS_SUCCEEDED,	/* exit status 0 */
	CTL_RS_FAILED,		/* nonzero exit, timeout, signal */
	CTL_RS_ERROR,		/* refused: not applicable, cap, ... */
	CTL_RS_INTERRUPTED,	/* the agent restarted in the middle */
	CTL_RS_FALLBACK,	/* serve this package by unicast: message why */
};
#define CTL_RS_MAX		CTL_RS_FALLBACK

/* Why the server cancels a run on one machine (CANCEL). */
enum ctl_cancel {
	CTL_CANCEL_MISSED = 1,	/* not ready when the transfer started */
	CTL_CANCEL_ERROR,	/* e.g. max targets exceeded */
	CTL_CANCEL_ADMIN,	/* an admin stopped it */
};

/* Codes of ERROR. */
enum ctl_errcode {
	CTL_ERR_PROTOCOL = 1,	/* malformed, unexpected or wrong version */
	CTL_ERR_ENROLL_REFUSED,	/* bad token, name taken, bad CSR */
	CTL_ERR_UNKNOWN_MACHINE,/* certificate does not match the inventory */
	CTL_ERR_INTERNAL,
};

struct ctl_fact {
	char	*key;
	char	*value;
};

struct ctl_pkg {
	char		*id;
	uint64_t	 size;			/* of the .fcpkg file sent */
	uint8_t		 sha256[CTL_HASH_LEN];	/* of that file */
	uint8_t		 signature[CTL_SIG_LEN];	/* over the manifest */
	uint8_t		*manifest;		/* signed manifest, as in the file */
	size_t		 manifest_len;
};

/*
 * A decoded message.  Strings are NUL-terminated copies (a NUL inside a
 * string field is a decoding error), blobs are copies with a length;
 * ctl_msg_free releases them.  Only the member of the message's type is
 * meaningful.
 */
struct ctl_msg {
	enum ctl_type	 type;
	union {
		struct {
			char		*name;
			char		*token;		/* "" when none */
			char		*csr;		/* PEM */
		} enroll;
		struct {
			char		*message;
		} pending;
		struct {
			char		*cert;		/* PEM */
			char		*ca;		/* PEM */
		} cert;
		struct {
			char		*name;
			char		*version;	/* agent software */
			char		*boot_id;
		} hello;
		struct {
			char		*version;	/* server software */
			uint32_t	 heartbeat;	/* seconds */
			uint64_t	 time_ms;	/* server clock, UNIX ms */
		} welcome;
		struct {
			uint64_t	 time_ms;	/* agent clock */
			int		 has_facts;
			size_t		 nfacts;
			struct ctl_fact	*facts;
		} heartbeat;
		struct {
			uint64_t	 time_ms;
		} heartbeat_ack;
		struct {
			uint64_t	 run_id;
			char		*scenario;
			uint8_t		 path;		/* enum ctl_path */
			char		*addr;		/* group or source */
			uint16_t	 port;
			uint8_t		 key[CTL_KEY_LEN];
			uint64_t	 member_id;	/* receiver id, never 0 */
			uint8_t		 member_key[CTL_KEY_LEN];	/* M_m */
			uint8_t		 options;	/* CTL_OPT_* */
			size_t		 npkgs;
			struct ctl_pkg	*pkgs;
		} assign;
		struct {
			uint64_t	 run_id;
			uint16_t	 pkg_index;
			uint64_t	 session;	/* the transfer's, never 0 */
		} start;
		struct {
			uint64_t	 run_id;
			uint8_t		 reason;	/* enum ctl_cancel */
			char		*message;
		} cancel;
		struct {
			uint64_t	 run_id;
			uint8_t		 state;		/* enum ctl_rstate */
			uint16_t	 pkg_index;
			uint64_t	 bytes;		/* received so far */
			int		 has_exit;
			int32_t		 exit_status;
			char		*message;	/* reason, "" when none */
			char		*output;	/* tail of the output */
		} report;
		struct {
			uint16_t	 code;		/* enum ctl_errcode */
			char		*message;
		} error;
		struct {
			uint8_t		 action;	/* enum ctl_power */
		} power;
		struct {
			uint8_t		 action;	/* enum ctl_power */
			uint8_t		 ok;		/* the command exited 0 */
			char		*message;	/* what it did */
		} power_done;
	} u;
};

struct evbuffer;
struct wire_w;

const char	*ctl_strtype(int);
const char	*ctl_strrstate(int);

/* Append one framed message to a growing writer; -1 if a limit is broken. */
int	 ctl_encode(const struct ctl_msg *, struct wire_w *, char *, size_t);

/*
 * Decode the body of one frame (what follows the length prefix).  On -1
 * the message is left empty and err says which field broke which rule.
 */
int	 ctl_decode(const uint8_t *, size_t, struct ctl_msg *, char *, size_t);
void	 ctl_msg_free(struct ctl_msg *);

/*
 * Frame helpers for a stream.  ctl_frame_check looks at the first bytes
 * of a stream, with the largest frame this side accepts: 0 means a whole
 * frame of *total bytes (prefix included) is there, 1 means more bytes
 * are needed, -1 means the announced length is out of bounds (the
 * connection must be closed).
 */
/*
 * Machine and scenario names: what a hostname may be, so that they work in
 * DNS (M1): 1-CTL_MAX_NAME bytes of A-Z a-z 0-9 - . _, not starting with '-'
 * or '.'.  The server, the agent and the API check the one rule here; on
 * failure err says why, naming WHAT.
 */
int	 ctl_check_name(const char *what, const char *s, char *err,
	    size_t errlen);
int	 ctl_frame_check(const uint8_t *, size_t, size_t, size_t *, char *,
	    size_t);

/*
 * The same on libevent buffers: ctl_read takes one whole frame (of at most
 * the given size) off the buffer and decodes it (1), or needs more (0), or
 * fails (-1, the caller closes the connection); ctl_write appends a framed
 * message.
 */
int	 ctl_read(struct evbuffer *, size_t, struct ctl_msg *, char *, size_t);
int	 ctl_write(struct evbuffer *, const struct ctl_msg *, char *, size_t);

#endif
