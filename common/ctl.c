/*
 * Encoding and decoding of control-channel messages (see ctl.h and
 * doc/control-protocol.md).  The decoder is the part that faces untrusted
 * input: every length is checked against its field's limit before anything
 * is copied, strings may not hold NUL bytes, enumerations must be known
 * values, and bytes left over after the last field are an error.  The
 * encoder applies the same limits so that a peer never sends what the other
 * side would refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "ctl.h"
#include "wire.h"
#include "xmalloc.h"

static const char *ctl_types[] = {
	"?", "ENROLL", "ENROLL_PENDING", "CERT", "HELLO", "WELCOME",
	"HEARTBEAT", "HEARTBEAT_ACK", "ASSIGN", "START", "CANCEL", "REPORT",
	"ERROR", "POWER", "POWER_DONE",
};

static const char *ctl_rstates[] = {
	"?", "ready", "receiving", "delivered", "running", "pending_boot",
	"succeeded", "failed", "error", "interrupted", "fallback",
};

const char *
ctl_strtype(int t)
{
	if (t < 1 || t > CTL_TYPE_MAX)
		return ("UNKNOWN");
	return (ctl_types[t]);
}

const char *
ctl_strrstate(int s)
{
	if (s < 1 || s > CTL_RS_MAX)
		return ("unknown");
	return (ctl_rstates[s]);
}

/* POWER's and POWER_DONE's enumerations (ok: -1 when there is none). */
static int
ctl_check_power(uint8_t action, int ok, char *err, size_t errlen)
{
	if (action < CTL_POWER_REBOOT || action > CTL_POWER_POWEROFF ||
	    ok > 1) {
		snprintf(err, errlen, "action %u, ok %d: unknown", action, ok);
		return (-1);
	}
	return (0);
}

/* ---- encoding ---- */

static int
put_str(struct wire_w *w, const char *s, size_t min, size_t max,
    const char *field, char *err, size_t errlen)
{
	size_t	len;

	if (s == NULL)
		s = "";
	len = strlen(s);
	if (len < min) {
		snprintf(err, errlen, "%s: empty, at least %zu byte%s needed",
		    field, min, min == 1 ? "" : "s");
		return (-1);
	}
	if (len > max) {
		snprintf(err, errlen, "%s: %zu bytes, limit %zu", field, len,
		    max);
		return (-1);
	}
	wire_put_u16(w, (uint16_t)len);
	wire_put_bytes(w, s, len);
	return (0);
}

static int
put_blob(struct wire_w *w, const uint8_t *p, size_t len, size_t max,
    const char *field, char *err, size_t errlen)
{
	if (len == 0 || len > max) {
		snprintf(err, errlen, "%s: %zu bytes, must be 1 to %zu", field,
		    len, max);
		return (-1);
	}
	wire_put_u32(w, (uint32_t)len);
	wire_put_bytes(w, p, len);
	return (0);
}

static int
encode_body(const struct ctl_msg *m, struct wire_w *w, char *err,
    size_t errlen)
{
	size_t		 i;
	const struct ctl_pkg *p;

	switch (m->type) {
	case CTL_ENROLL:
		if (put_str(w, m->u.enroll.name, 1, CTL_MAX_NAME, "name", err,
		    errlen) == -1 ||
		    put_str(w, m->u.enroll.token, 0, CTL_MAX_NAME, "token",
		    err, errlen) == -1 ||
		    put_str(w, m->u.enroll.csr, 1, CTL_MAX_PEM, "csr", err,
		    errlen) == -1)
			return (-1);
		return (0);
	case CTL_ENROLL_PENDING:
		return (put_str(w, m->u.pending.message, 0, CTL_MAX_STR,
		    "message", err, errlen));
	case CTL_CERT:
		if (put_str(w, m->u.cert.cert, 1, CTL_MAX_PEM, "cert", err,
		    errlen) == -1 ||
		    put_str(w, m->u.cert.ca, 1, CTL_MAX_PEM, "ca", err,
		    errlen) == -1)
			return (-1);
		return (0);
	case CTL_HELLO:
		if (put_str(w, m->u.hello.name, 1, CTL_MAX_NAME, "name", err,
		    errlen) == -1 ||
		    put_str(w, m->u.hello.version, 0, CTL_MAX_NAME, "version",
		    err, errlen) == -1 ||
		    put_str(w, m->u.hello.boot_id, 0, CTL_MAX_NAME, "boot_id",
		    err, errlen) == -1)
			return (-1);
		return (0);
	case CTL_WELCOME:
		if (put_str(w, m->u.welcome.version, 0, CTL_MAX_NAME,
		    "version", err, errlen) == -1)
			return (-1);
		wire_put_u32(w, m->u.welcome.heartbeat);
		wire_put_u64(w, m->u.welcome.time_ms);
		return (0);
	case CTL_HEARTBEAT:
		wire_put_u64(w, m->u.heartbeat.time_ms);
		wire_put_u8(w, m->u.heartbeat.has_facts ? 1 : 0);
		if (!m->u.heartbeat.has_facts)
			return (0);
		if (m->u.heartbeat.nfacts > CTL_MAX_FACTS) {
			snprintf(err, errlen, "facts: %zu, limit %d",
			    m->u.heartbeat.nfacts, CTL_MAX_FACTS);
			return (-1);
		}
		wire_put_u16(w, (uint16_t)m->u.heartbeat.nfacts);
		for (i = 0; i < m->u.heartbeat.nfacts; i++) {
			if (put_str(w, m->u.heartbeat.facts[i].key, 1,
			    CTL_MAX_FACT_KEY, "fact key", err, errlen) == -1 ||
			    put_str(w, m->u.heartbeat.facts[i].value, 0,
			    CTL_MAX_FACT_VALUE, "fact value", err,
			    errlen) == -1)
				return (-1);
		}
		return (0);
	case CTL_HEARTBEAT_ACK:
		wire_put_u64(w, m->u.heartbeat_ack.time_ms);
		return (0);
	case CTL_ASSIGN:
		wire_put_u64(w, m->u.assign.run_id);
		if (put_str(w, m->u.assign.scenario, 1, CTL_MAX_NAME,
		    "scenario", err, errlen) == -1)
			return (-1);
		if (m->u.assign.path != CTL_PATH_MULTICAST &&
		    m->u.assign.path != CTL_PATH_UNICAST) {
			snprintf(err, errlen, "path: %u is not 0 or 1",
			    m->u.assign.path);
			return (-1);
		}
		wire_put_u8(w, m->u.assign.path);
		if (put_str(w, m->u.assign.addr, 1, CTL_MAX_NAME, "addr", err,
		    errlen) == -1)
			return (-1);
		wire_put_u16(w, m->u.assign.port);
		wire_put_bytes(w, m->u.assign.key, CTL_KEY_LEN);
		if (m->u.assign.member_id == 0) {
			snprintf(err, errlen, "member_id: 0");
			return (-1);
		}
		wire_put_u64(w, m->u.assign.member_id);
		wire_put_bytes(w, m->u.assign.member_key, CTL_KEY_LEN);
		if (m->u.assign.options & ~CTL_OPT_MASK) {
			snprintf(err, errlen, "options: unknown bits 0x%02x",
			    m->u.assign.options & ~CTL_OPT_MASK);
			return (-1);
		}
		wire_put_u8(w, m->u.assign.options);
		if (m->u.assign.npkgs < 1 ||
		    m->u.assign.npkgs > CTL_MAX_PKGS) {
			snprintf(err, errlen, "packages: %zu, must be 1 to %d",
			    m->u.assign.npkgs, CTL_MAX_PKGS);
			return (-1);
		}
		wire_put_u16(w, (uint16_t)m->u.assign.npkgs);
		for (i = 0; i < m->u.assign.npkgs; i++) {
			p = &m->u.assign.pkgs[i];
			if (put_str(w, p->id, 1, 63, "package id", err,
			    errlen) == -1)
				return (-1);
			wire_put_u64(w, p->size);
			wire_put_bytes(w, p->sha256, CTL_HASH_LEN);
			wire_put_bytes(w, p->signature, CTL_SIG_LEN);
			if (put_blob(w, p->manifest, p->manifest_len,
			    CTL_MAX_MANIFEST, "manifest", err, errlen) == -1)
				return (-1);
		}
		return (0);
	case CTL_START:
		wire_put_u64(w, m->u.start.run_id);
		wire_put_u16(w, m->u.start.pkg_index);
		if (m->u.start.session == 0) {
			snprintf(err, errlen, "session: 0");
			return (-1);
		}
		wire_put_u64(w, m->u.start.session);
		return (0);
	case CTL_CANCEL:
		if (m->u.cancel.reason < CTL_CANCEL_MISSED ||
		    m->u.cancel.reason > CTL_CANCEL_ADMIN) {
			snprintf(err, errlen, "reason: %u is unknown",
			    m->u.cancel.reason);
			return (-1);
		}
		wire_put_u64(w, m->u.cancel.run_id);
		wire_put_u8(w, m->u.cancel.reason);
		return (put_str(w, m->u.cancel.message, 0, CTL_MAX_STR,
		    "message", err, errlen));
	case CTL_REPORT:
		if (m->u.report.state < 1 || m->u.report.state > CTL_RS_MAX) {
			snprintf(err, errlen, "state: %u is unknown",
			    m->u.report.state);
			return (-1);
		}
		wire_put_u64(w, m->u.report.run_id);
		wire_put_u8(w, m->u.report.state);
		wire_put_u16(w, m->u.report.pkg_index);
		wire_put_u64(w, m->u.report.bytes);
		wire_put_u8(w, m->u.report.has_exit ? 1 : 0);
		wire_put_u32(w, (uint32_t)m->u.report.exit_status);
		if (put_str(w, m->u.report.message, 0, CTL_MAX_STR, "message",
		    err, errlen) == -1 ||
		    put_str(w, m->u.report.output, 0, CTL_MAX_STR, "output",
		    err, errlen) == -1)
			return (-1);
		return (0);
	case CTL_ERROR:
		wire_put_u16(w, m->u.error.code);
		return (put_str(w, m->u.error.message, 0, CTL_MAX_STR,
		    "message", err, errlen));
	case CTL_POWER:
		if (ctl_check_power(m->u.power.action, -1, err, errlen) == -1)
			return (-1);
		wire_put_u8(w, m->u.power.action);
		return (0);
	case CTL_POWER_DONE:
		if (ctl_check_power(m->u.power_done.action, m->u.power_done.ok,
		    err, errlen) == -1)
			return (-1);
		wire_put_u8(w, m->u.power_done.action);
		wire_put_u8(w, m->u.power_done.ok);
		return (put_str(w, m->u.power_done.message, 0, CTL_MAX_STR,
		    "message", err, errlen));
	}
	snprintf(err, errlen, "type: %d is unknown", (int)m->type);
	return (-1);
}

int
ctl_encode(const struct ctl_msg *m, struct wire_w *w, char *err,
    size_t errlen)
{
	size_t	start, len;

	start = w->len;
	wire_put_u32(w, 0);
	wire_put_u8(w, CTL_VERSION);
	wire_put_u8(w, (uint8_t)m->type);
	if (encode_body(m, w, err, errlen) == -1) {
		w->len = start;
		return (-1);
	}
	if (w->err) {
		snprintf(err, errlen, "%s: buffer too small",
		    ctl_strtype(m->type));
		w->len = start;
		return (-1);
	}
	len = w->len - start - CTL_LEN_SIZE;
	if (len > CTL_MAX_FRAME) {
		snprintf(err, errlen, "%s: %zu bytes, limit %u",
		    ctl_strtype(m->type), len, CTL_MAX_FRAME);
		w->len = start;
		return (-1);
	}
	wire_store32(w->buf + start, (uint32_t)len);
	return (0);
}

/* ---- decoding ---- */

static int
get_str(struct wire_r *r, size_t min, size_t max, char **out,
    const char *field, char *err, size_t errlen)
{
	uint16_t	 len;
	const uint8_t	*p;

	if (wire_get_u16(r, &len) == -1 || wire_get_ptr(r, &p, len) == -1) {
		snprintf(err, errlen, "%s: truncated", field);
		return (-1);
	}
	if (len < min) {
		snprintf(err, errlen, "%s: empty", field);
		return (-1);
	}
	if (len > max) {
		snprintf(err, errlen, "%s: %u bytes, limit %zu", field, len,
		    max);
		return (-1);
	}
	if (len > 0 && memchr(p, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte", field);
		return (-1);
	}
	*out = xstrndup((const char *)p, len);
	return (0);
}

#define GET(fn, r, v, field) do {					\
	if (fn((r), (v)) == -1) {					\
		snprintf(err, errlen, "%s: truncated", (field));	\
		return (-1);						\
	}								\
} while (0)

static int
decode_assign(struct wire_r *r, struct ctl_msg *m, char *err, size_t errlen)
{
	uint16_t	 n, i;
	uint32_t	 mlen;
	const uint8_t	*p;
	struct ctl_pkg	*pkg;

	GET(wire_get_u64, r, &m->u.assign.run_id, "run_id");
	if (get_str(r, 1, CTL_MAX_NAME, &m->u.assign.scenario, "scenario",
	    err, errlen) == -1)
		return (-1);
	GET(wire_get_u8, r, &m->u.assign.path, "path");
	if (m->u.assign.path != CTL_PATH_MULTICAST &&
	    m->u.assign.path != CTL_PATH_UNICAST) {
		snprintf(err, errlen, "path: %u is not 0 or 1",
		    m->u.assign.path);
		return (-1);
	}
	if (get_str(r, 1, CTL_MAX_NAME, &m->u.assign.addr, "addr", err,
	    errlen) == -1)
		return (-1);
	GET(wire_get_u16, r, &m->u.assign.port, "port");
	if (wire_get_bytes(r, m->u.assign.key, CTL_KEY_LEN) == -1) {
		snprintf(err, errlen, "key: truncated");
		return (-1);
	}
	GET(wire_get_u64, r, &m->u.assign.member_id, "member_id");
	if (m->u.assign.member_id == 0) {
		snprintf(err, errlen, "member_id: 0");
		return (-1);
	}
	if (wire_get_bytes(r, m->u.assign.member_key, CTL_KEY_LEN) == -1) {
		snprintf(err, errlen, "member_key: truncated");
		return (-1);
	}
	GET(wire_get_u8, r, &m->u.assign.options, "options");
	if (m->u.assign.options & ~CTL_OPT_MASK) {
		snprintf(err, errlen, "options: unknown bits 0x%02x",
		    m->u.assign.options & ~CTL_OPT_MASK);
		return (-1);
	}
	GET(wire_get_u16, r, &n, "packages");
	if (n < 1 || n > CTL_MAX_PKGS) {
		snprintf(err, errlen, "packages: %u, must be 1 to %d", n,
		    CTL_MAX_PKGS);
		return (-1);
	}
	m->u.assign.pkgs = xcalloc(n, sizeof(*m->u.assign.pkgs));
	m->u.assign.npkgs = n;
	for (i = 0; i < n; i++) {
		pkg = &m->u.assign.pkgs[i];
		if (get_str(r, 1, 63, &pkg->id, "package id", err,
		    errlen) == -1)
			return (-1);
		GET(wire_get_u64, r, &pkg->size, "package size");
		if (wire_get_bytes(r, pkg->sha256, CTL_HASH_LEN) == -1) {
			snprintf(err, errlen, "package sha256: truncated");
			return (-1);
		}
		if (wire_get_bytes(r, pkg->signature, CTL_SIG_LEN) == -1) {
			snprintf(err, errlen, "package signature: truncated");
			return (-1);
		}
		GET(wire_get_u32, r, &mlen, "manifest");
		if (mlen == 0 || mlen > CTL_MAX_MANIFEST) {
			snprintf(err, errlen, "manifest: %u bytes, must be 1 "
			    "to %d", mlen, CTL_MAX_MANIFEST);
			return (-1);
		}
		if (wire_get_ptr(r, &p, mlen) == -1) {
			snprintf(err, errlen, "manifest: truncated");
			return (-1);
		}
		pkg->manifest = xmalloc(mlen);
		memcpy(pkg->manifest, p, mlen);
		pkg->manifest_len = mlen;
	}
	return (0);
}

static int
decode_body(struct wire_r *r, struct ctl_msg *m, char *err, size_t errlen)
{
	uint8_t		 u8;
	uint16_t	 n, i;
	uint32_t	 u32;

	switch (m->type) {
	case CTL_ENROLL:
		if (get_str(r, 1, CTL_MAX_NAME, &m->u.enroll.name, "name", err,
		    errlen) == -1 ||
		    get_str(r, 0, CTL_MAX_NAME, &m->u.enroll.token, "token",
		    err, errlen) == -1 ||
		    get_str(r, 1, CTL_MAX_PEM, &m->u.enroll.csr, "csr", err,
		    errlen) == -1)
			return (-1);
		return (0);
	case CTL_ENROLL_PENDING:
		return (get_str(r, 0, CTL_MAX_STR, &m->u.pending.message,
		    "message", err, errlen));
	case CTL_CERT:
		if (get_str(r, 1, CTL_MAX_PEM, &m->u.cert.cert, "cert", err,
		    errlen) == -1 ||
		    get_str(r, 1, CTL_MAX_PEM, &m->u.cert.ca, "ca", err,
		    errlen) == -1)
			return (-1);
		return (0);
	case CTL_HELLO:
		if (get_str(r, 1, CTL_MAX_NAME, &m->u.hello.name, "name", err,
		    errlen) == -1 ||
		    get_str(r, 0, CTL_MAX_NAME, &m->u.hello.version, "version",
		    err, errlen) == -1 ||
		    get_str(r, 0, CTL_MAX_NAME, &m->u.hello.boot_id, "boot_id",
		    err, errlen) == -1)
			return (-1);
		return (0);
	case CTL_WELCOME:
		if (get_str(r, 0, CTL_MAX_NAME, &m->u.welcome.version,
		    "version", err, errlen) == -1)
			return (-1);
		GET(wire_get_u32, r, &m->u.welcome.heartbeat, "heartbeat");
		GET(wire_get_u64, r, &m->u.welcome.time_ms, "time");
		return (0);
	case CTL_HEARTBEAT:
		GET(wire_get_u64, r, &m->u.heartbeat.time_ms, "time");
		GET(wire_get_u8, r, &u8, "has_facts");
		if (u8 > 1) {
			snprintf(err, errlen, "has_facts: %u is not 0 or 1",
			    u8);
			return (-1);
		}
		m->u.heartbeat.has_facts = u8;
		if (u8 == 0)
			return (0);
		GET(wire_get_u16, r, &n, "facts");
		if (n > CTL_MAX_FACTS) {
			snprintf(err, errlen, "facts: %u, limit %d", n,
			    CTL_MAX_FACTS);
			return (-1);
		}
		if (n == 0)
			return (0);
		m->u.heartbeat.facts = xcalloc(n,
		    sizeof(*m->u.heartbeat.facts));
		m->u.heartbeat.nfacts = n;
		for (i = 0; i < n; i++) {
			if (get_str(r, 1, CTL_MAX_FACT_KEY,
			    &m->u.heartbeat.facts[i].key, "fact key", err,
			    errlen) == -1 ||
			    get_str(r, 0, CTL_MAX_FACT_VALUE,
			    &m->u.heartbeat.facts[i].value, "fact value", err,
			    errlen) == -1)
				return (-1);
		}
		return (0);
	case CTL_HEARTBEAT_ACK:
		GET(wire_get_u64, r, &m->u.heartbeat_ack.time_ms, "time");
		return (0);
	case CTL_ASSIGN:
		return (decode_assign(r, m, err, errlen));
	case CTL_START:
		GET(wire_get_u64, r, &m->u.start.run_id, "run_id");
		GET(wire_get_u16, r, &m->u.start.pkg_index, "pkg_index");
		GET(wire_get_u64, r, &m->u.start.session, "session");
		if (m->u.start.session == 0) {
			snprintf(err, errlen, "session: 0");
			return (-1);
		}
		return (0);
	case CTL_CANCEL:
		GET(wire_get_u64, r, &m->u.cancel.run_id, "run_id");
		GET(wire_get_u8, r, &m->u.cancel.reason, "reason");
		if (m->u.cancel.reason < CTL_CANCEL_MISSED ||
		    m->u.cancel.reason > CTL_CANCEL_ADMIN) {
			snprintf(err, errlen, "reason: %u is unknown",
			    m->u.cancel.reason);
			return (-1);
		}
		return (get_str(r, 0, CTL_MAX_STR, &m->u.cancel.message,
		    "message", err, errlen));
	case CTL_REPORT:
		GET(wire_get_u64, r, &m->u.report.run_id, "run_id");
		GET(wire_get_u8, r, &m->u.report.state, "state");
		if (m->u.report.state < 1 || m->u.report.state > CTL_RS_MAX) {
			snprintf(err, errlen, "state: %u is unknown",
			    m->u.report.state);
			return (-1);
		}
		GET(wire_get_u16, r, &m->u.report.pkg_index, "pkg_index");
		GET(wire_get_u64, r, &m->u.report.bytes, "bytes");
		GET(wire_get_u8, r, &u8, "has_exit");
		if (u8 > 1) {
			snprintf(err, errlen, "has_exit: %u is not 0 or 1", u8);
			return (-1);
		}
		m->u.report.has_exit = u8;
		GET(wire_get_u32, r, &u32, "exit_status");
		/* Two's complement by value, not by reinterpreting memory. */
		m->u.report.exit_status = u32 <= INT32_MAX ? (int32_t)u32 :
		    -(int32_t)(UINT32_MAX - u32) - 1;
		if (get_str(r, 0, CTL_MAX_STR, &m->u.report.message, "message",
		    err, errlen) == -1 ||
		    get_str(r, 0, CTL_MAX_STR, &m->u.report.output, "output",
		    err, errlen) == -1)
			return (-1);
		return (0);
	case CTL_ERROR:
		GET(wire_get_u16, r, &m->u.error.code, "code");
		return (get_str(r, 0, CTL_MAX_STR, &m->u.error.message,
		    "message", err, errlen));
	case CTL_POWER:
		GET(wire_get_u8, r, &m->u.power.action, "action");
		return (ctl_check_power(m->u.power.action, -1, err, errlen));
	case CTL_POWER_DONE:
		GET(wire_get_u8, r, &m->u.power_done.action, "action");
		GET(wire_get_u8, r, &m->u.power_done.ok, "ok");
		if (ctl_check_power(m->u.power_done.action, m->u.power_done.ok,
		    err, errlen) == -1)
			return (-1);
		return (get_str(r, 0, CTL_MAX_STR, &m->u.power_done.message,
		    "message", err, errlen));
	}
	snprintf(err, errlen, "type: %d is unknown", (int)m->type);
	return (-1);
}

int
ctl_decode(const uint8_t *buf, size_t len, struct ctl_msg *m, char *err,
    size_t errlen)
{
	struct wire_r	r;
	uint8_t		version, type;

	memset(m, 0, sizeof(*m));
	if (len > CTL_MAX_FRAME) {
		snprintf(err, errlen, "frame: %zu bytes, limit %u", len,
		    CTL_MAX_FRAME);
		return (-1);
	}
	wire_r_init(&r, buf, len);
	if (wire_get_u8(&r, &version) == -1 || wire_get_u8(&r, &type) == -1) {
		snprintf(err, errlen, "frame: %zu bytes, shorter than the "
		    "header", len);
		return (-1);
	}
	if (version != CTL_VERSION) {
		snprintf(err, errlen, "version: control protocol %u, this "
		    "side speaks %d: upgrade the older side", version,
		    CTL_VERSION);
		return (-1);
	}
	if (type < 1 || type > CTL_TYPE_MAX) {
		snprintf(err, errlen, "type: %u is unknown", type);
		return (-1);
	}
	m->type = type;
	if (decode_body(&r, m, err, errlen) == -1)
		goto bad;
	if (wire_r_left(&r) != 0) {
		snprintf(err, errlen, "%s: %zu bytes after the last field",
		    ctl_strtype(type), wire_r_left(&r));
		goto bad;
	}
	return (0);
bad:
	ctl_msg_free(m);
	return (-1);
}

void
ctl_msg_free(struct ctl_msg *m)
{
	size_t	i;

	switch (m->type) {
	case CTL_ENROLL:
		free(m->u.enroll.name);
		free(m->u.enroll.token);
		free(m->u.enroll.csr);
		break;
	case CTL_ENROLL_PENDING:
		free(m->u.pending.message);
		break;
	case CTL_CERT:
		free(m->u.cert.cert);
		free(m->u.cert.ca);
		break;
	case CTL_HELLO:
		free(m->u.hello.name);
		free(m->u.hello.version);
		free(m->u.hello.boot_id);
		break;
	case CTL_WELCOME:
		free(m->u.welcome.version);
		break;
	case CTL_HEARTBEAT:
		for (i = 0; i < m->u.heartbeat.nfacts; i++) {
			free(m->u.heartbeat.facts[i].key);
			free(m->u.heartbeat.facts[i].value);
		}
		free(m->u.heartbeat.facts);
		break;
	case CTL_ASSIGN:
		free(m->u.assign.scenario);
		free(m->u.assign.addr);
		for (i = 0; i < m->u.assign.npkgs; i++) {
			free(m->u.assign.pkgs[i].id);
			free(m->u.assign.pkgs[i].manifest);
		}
		free(m->u.assign.pkgs);
		explicit_bzero(m->u.assign.key, sizeof(m->u.assign.key));
		explicit_bzero(m->u.assign.member_key,
		    sizeof(m->u.assign.member_key));
		break;
	case CTL_CANCEL:
		free(m->u.cancel.message);
		break;
	case CTL_REPORT:
		free(m->u.report.message);
		free(m->u.report.output);
		break;
	case CTL_ERROR:
		free(m->u.error.message);
		break;
	case CTL_POWER_DONE:
		free(m->u.power_done.message);
		break;
	case CTL_HEARTBEAT_ACK:
	case CTL_START:
	case CTL_POWER:
		break;
	}
	memset(m, 0, sizeof(*m));
}

/* ---- framing on streams ---- */

int
ctl_check_name(const char *what, const char *s, char *err, size_t errlen)
{
	size_t	i, len = strlen(s);

	if (len == 0 || len > CTL_MAX_NAME) {
		snprintf(err, errlen, "%s: %zu bytes; a name is 1-%d bytes",
		    what, len, CTL_MAX_NAME);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '.' || s[i] == '_')) {
			snprintf(err, errlen, "%s: '%s' holds byte 0x%02x; a "
			    "name is letters, digits, '-', '.', '_'", what, s,
			    (unsigned char)s[i]);
			return (-1);
		}
	}
	if (s[0] == '-' || s[0] == '.') {
		snprintf(err, errlen, "%s: '%s' starts with '%c'; a name may "
		    "not start with '-' or '.'", what, s, s[0]);
		return (-1);
	}
	return (0);
}

int
ctl_frame_check(const uint8_t *buf, size_t len, size_t max, size_t *total,
    char *err, size_t errlen)
{
	uint32_t	flen;

	if (max > CTL_MAX_FRAME)
		max = CTL_MAX_FRAME;
	if (len < CTL_LEN_SIZE)
		return (1);
	flen = wire_load32(buf);
	if (flen < 2 || flen > max) {
		snprintf(err, errlen, "frame: %u bytes announced, must be 2 to "
		    "%zu", flen, max);
		return (-1);
	}
	if (len - CTL_LEN_SIZE < flen)
		return (1);
	*total = CTL_LEN_SIZE + (size_t)flen;
	return (0);
}

int
ctl_read(struct evbuffer *in, size_t max, struct ctl_msg *m, char *err,
    size_t errlen)
{
	uint8_t		 hdr[CTL_LEN_SIZE];
	size_t		 have, total;
	ev_ssize_t	 got;
	const uint8_t	*p;
	int		 rv;

	have = evbuffer_get_length(in);
	got = evbuffer_copyout(in, hdr, sizeof(hdr));
	if (got < (ev_ssize_t)sizeof(hdr))
		return (0);
	/* Check the length against the limit before waiting for it. */
	rv = ctl_frame_check(hdr, sizeof(hdr), max, &total, err, errlen);
	if (rv == -1)
		return (-1);
	total = CTL_LEN_SIZE + (size_t)wire_load32(hdr);
	if (have < total)
		return (0);
	if ((p = evbuffer_pullup(in, (ev_ssize_t)total)) == NULL) {
		snprintf(err, errlen, "frame: out of buffer memory");
		return (-1);
	}
	rv = ctl_decode(p + CTL_LEN_SIZE, total - CTL_LEN_SIZE, m, err,
	    errlen);
	evbuffer_drain(in, total);
	return (rv == -1 ? -1 : 1);
}

int
ctl_write(struct evbuffer *out, const struct ctl_msg *m, char *err,
    size_t errlen)
{
	struct wire_w	w;
	int		rv = -1;

	wire_w_grow(&w, 256);
	if (ctl_encode(m, &w, err, errlen) == -1)
		goto out;
	if (evbuffer_add(out, w.buf, w.len) == -1) {
		snprintf(err, errlen, "%s: out of buffer memory",
		    ctl_strtype(m->type));
		goto out;
	}
	rv = 0;
out:
	if (m->type == CTL_ASSIGN && w.buf != NULL)
		explicit_bzero(w.buf, w.len);
	wire_w_free(&w);
	return (rv);
}
