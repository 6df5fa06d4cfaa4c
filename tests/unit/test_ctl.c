/*
 * Tests for the control-channel codec: every message type survives a round
 * trip field by field; every truncation, a trailing byte, a wrong version,
 * an unknown type or enumeration, a NUL inside a string and every length
 * over its limit are refused; the stream helpers wait for whole frames and
 * refuse an oversized length before its body has arrived.
 */
#include <string.h>

#include <event2/buffer.h>

#include "ctl.h"
#include "unit.h"
#include "wire.h"

/* Encode m into a fresh buffer; returns the frame length (prefix included). */
static size_t
encode(const struct ctl_msg *m, struct wire_w *w)
{
	char	err[256];

	wire_w_grow(w, 16);
	CU_ASSERT_FATAL(ctl_encode(m, w, err, sizeof(err)) == 0);
	return (w->len);
}

/* Encode then decode, checking the frame prefix on the way. */
static void
roundtrip(const struct ctl_msg *in, struct ctl_msg *out)
{
	struct wire_w	w;
	char		err[256];
	size_t		total;

	encode(in, &w);
	CU_ASSERT_FATAL(ctl_frame_check(w.buf, w.len, CTL_MAX_FRAME, &total,
	    err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL_FATAL(total, w.len);
	CU_ASSERT_FATAL(ctl_decode(w.buf + CTL_LEN_SIZE, w.len - CTL_LEN_SIZE,
	    out, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(out->type, in->type);
	wire_w_free(&w);
}

static void
test_enroll_cert_hello(void)
{
	struct ctl_msg	m, d;

	memset(&m, 0, sizeof(m));
	m.type = CTL_ENROLL;
	m.u.enroll.name = "vm-01";
	m.u.enroll.token = "";
	m.u.enroll.csr = "-----BEGIN CERTIFICATE REQUEST-----\nxyz\n";
	roundtrip(&m, &d);
	CU_ASSERT_STRING_EQUAL(d.u.enroll.name, "vm-01");
	CU_ASSERT_STRING_EQUAL(d.u.enroll.token, "");
	CU_ASSERT_STRING_EQUAL(d.u.enroll.csr, m.u.enroll.csr);
	ctl_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = CTL_CERT;
	m.u.cert.cert = "CERT";
	m.u.cert.ca = "CA";
	roundtrip(&m, &d);
	CU_ASSERT_STRING_EQUAL(d.u.cert.cert, "CERT");
	CU_ASSERT_STRING_EQUAL(d.u.cert.ca, "CA");
	ctl_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = CTL_ENROLL_PENDING;
	m.u.pending.message = "waiting for approval";
	roundtrip(&m, &d);
	CU_ASSERT_STRING_EQUAL(d.u.pending.message, "waiting for approval");
	ctl_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = CTL_HELLO;
	m.u.hello.name = "vm-02";
	m.u.hello.version = "0.1.0";
	m.u.hello.boot_id = "6f1c";
	roundtrip(&m, &d);
	CU_ASSERT_STRING_EQUAL(d.u.hello.name, "vm-02");
	CU_ASSERT_STRING_EQUAL(d.u.hello.version, "0.1.0");
	CU_ASSERT_STRING_EQUAL(d.u.hello.boot_id, "6f1c");
	ctl_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = CTL_WELCOME;
	m.u.welcome.version = "0.1.0";
	m.u.welcome.heartbeat = 10;
	m.u.welcome.time_ms = 1700000000123ULL;
	roundtrip(&m, &d);
	CU_ASSERT_STRING_EQUAL(d.u.welcome.version, "0.1.0");
	CU_ASSERT_EQUAL(d.u.welcome.heartbeat, 10);
	CU_ASSERT_EQUAL(d.u.welcome.time_ms, 1700000000123ULL);
	ctl_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = CTL_ERROR;
	m.u.error.code = CTL_ERR_ENROLL_REFUSED;
	m.u.error.message = "enroll_token: does not match";
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.error.code, CTL_ERR_ENROLL_REFUSED);
	CU_ASSERT_STRING_EQUAL(d.u.error.message, m.u.error.message);
	ctl_msg_free(&d);
}

static void
test_heartbeat(void)
{
	struct ctl_msg	m, d;
	struct ctl_fact	facts[2] = {
		{ "os.id", "debian" }, { "os.version", "" },
	};

	memset(&m, 0, sizeof(m));
	m.type = CTL_HEARTBEAT;
	m.u.heartbeat.time_ms = 42;
	m.u.heartbeat.has_facts = 1;
	m.u.heartbeat.nfacts = 2;
	m.u.heartbeat.facts = facts;
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.heartbeat.time_ms, 42);
	CU_ASSERT_EQUAL(d.u.heartbeat.has_facts, 1);
	CU_ASSERT_EQUAL_FATAL(d.u.heartbeat.nfacts, 2);
	CU_ASSERT_STRING_EQUAL(d.u.heartbeat.facts[0].key, "os.id");
	CU_ASSERT_STRING_EQUAL(d.u.heartbeat.facts[0].value, "debian");
	CU_ASSERT_STRING_EQUAL(d.u.heartbeat.facts[1].value, "");
	ctl_msg_free(&d);

	/* Without facts: "unchanged", distinct from an empty list. */
	m.u.heartbeat.has_facts = 0;
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.heartbeat.has_facts, 0);
	CU_ASSERT_EQUAL(d.u.heartbeat.nfacts, 0);
	ctl_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = CTL_HEARTBEAT_ACK;
	m.u.heartbeat_ack.time_ms = 7;
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.heartbeat_ack.time_ms, 7);
	ctl_msg_free(&d);
}

static uint8_t manifest[] = "{\"id\":\"sp2\"}";

static void
make_assign(struct ctl_msg *m, struct ctl_pkg *pkgs)
{
	memset(m, 0, sizeof(*m));
	memset(pkgs, 0, 2 * sizeof(*pkgs));
	m->type = CTL_ASSIGN;
	m->u.assign.run_id = 0x0102030405060708ULL;
	m->u.assign.scenario = "rollout";
	m->u.assign.path = CTL_PATH_UNICAST;
	m->u.assign.addr = "239.192.56.7";
	m->u.assign.port = 56001;
	memset(m->u.assign.key, 0xa5, CTL_KEY_LEN);
	m->u.assign.member_id = 0x1112131415161718ULL;
	memset(m->u.assign.member_key, 0x5a, CTL_KEY_LEN);
	m->u.assign.options = CTL_OPT_AT_NEXT_BOOT | CTL_OPT_STOP_ON_ERROR;
	pkgs[0].id = "sp2";
	pkgs[0].size = 1ULL << 40;
	memset(pkgs[0].sha256, 0x11, CTL_HASH_LEN);
	memset(pkgs[0].signature, 0x33, CTL_SIG_LEN);
	pkgs[0].manifest = manifest;
	pkgs[0].manifest_len = sizeof(manifest) - 1;
	pkgs[1].id = "hotfix_1";
	pkgs[1].size = 3;
	memset(pkgs[1].sha256, 0x22, CTL_HASH_LEN);
	pkgs[1].manifest = manifest;
	pkgs[1].manifest_len = 1;
	m->u.assign.npkgs = 2;
	m->u.assign.pkgs = pkgs;
}

static void
test_assign(void)
{
	struct ctl_msg	m, d;
	struct ctl_pkg	pkgs[2];
	uint8_t		key[CTL_KEY_LEN];

	make_assign(&m, pkgs);
	roundtrip(&m, &d);
	memset(key, 0xa5, sizeof(key));
	CU_ASSERT_EQUAL(d.u.assign.run_id, 0x0102030405060708ULL);
	CU_ASSERT_STRING_EQUAL(d.u.assign.scenario, "rollout");
	CU_ASSERT_EQUAL(d.u.assign.path, CTL_PATH_UNICAST);
	CU_ASSERT_STRING_EQUAL(d.u.assign.addr, "239.192.56.7");
	CU_ASSERT_EQUAL(d.u.assign.port, 56001);
	CU_ASSERT(memcmp(d.u.assign.key, key, CTL_KEY_LEN) == 0);
	CU_ASSERT_EQUAL(d.u.assign.member_id, 0x1112131415161718ULL);
	CU_ASSERT(d.u.assign.member_key[0] == 0x5a &&
	    d.u.assign.member_key[CTL_KEY_LEN - 1] == 0x5a);
	CU_ASSERT_EQUAL(d.u.assign.options,
	    CTL_OPT_AT_NEXT_BOOT | CTL_OPT_STOP_ON_ERROR);
	CU_ASSERT_EQUAL_FATAL(d.u.assign.npkgs, 2);
	CU_ASSERT_STRING_EQUAL(d.u.assign.pkgs[0].id, "sp2");
	CU_ASSERT_EQUAL(d.u.assign.pkgs[0].size, 1ULL << 40);
	CU_ASSERT_EQUAL(d.u.assign.pkgs[0].sha256[31], 0x11);
	CU_ASSERT_EQUAL(d.u.assign.pkgs[0].signature[0], 0x33);
	CU_ASSERT_EQUAL(d.u.assign.pkgs[0].signature[63], 0x33);
	CU_ASSERT_EQUAL_FATAL(d.u.assign.pkgs[0].manifest_len,
	    sizeof(manifest) - 1);
	CU_ASSERT(memcmp(d.u.assign.pkgs[0].manifest, manifest,
	    sizeof(manifest) - 1) == 0);
	CU_ASSERT_STRING_EQUAL(d.u.assign.pkgs[1].id, "hotfix_1");
	CU_ASSERT_EQUAL(d.u.assign.pkgs[1].manifest_len, 1);
	ctl_msg_free(&d);
}

static void
test_start_cancel_report(void)
{
	struct ctl_msg	m, d;

	memset(&m, 0, sizeof(m));
	m.type = CTL_START;
	m.u.start.run_id = 9;
	m.u.start.pkg_index = 1;
	m.u.start.session = 0xfedcba9876543210ULL;
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.start.run_id, 9);
	CU_ASSERT_EQUAL(d.u.start.pkg_index, 1);
	CU_ASSERT_EQUAL(d.u.start.session, 0xfedcba9876543210ULL);
	ctl_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = CTL_CANCEL;
	m.u.cancel.run_id = 9;
	m.u.cancel.reason = CTL_CANCEL_MISSED;
	m.u.cancel.message = "not ready when the transfer started";
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.cancel.reason, CTL_CANCEL_MISSED);
	CU_ASSERT_STRING_EQUAL(d.u.cancel.message, m.u.cancel.message);
	ctl_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = CTL_REPORT;
	m.u.report.run_id = 9;
	m.u.report.state = CTL_RS_FAILED;
	m.u.report.pkg_index = 0;
	m.u.report.bytes = 123456789012ULL;
	m.u.report.has_exit = 1;
	m.u.report.exit_status = -15;
	m.u.report.message = "killed by signal 15";
	m.u.report.output = "line 1\nline 2\n";
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.report.state, CTL_RS_FAILED);
	CU_ASSERT_EQUAL(d.u.report.bytes, 123456789012ULL);
	CU_ASSERT_EQUAL(d.u.report.has_exit, 1);
	CU_ASSERT_EQUAL(d.u.report.exit_status, -15);
	CU_ASSERT_STRING_EQUAL(d.u.report.message, "killed by signal 15");
	CU_ASSERT_STRING_EQUAL(d.u.report.output, "line 1\nline 2\n");
	ctl_msg_free(&d);

	m.u.report.exit_status = INT32_MIN;
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.report.exit_status, INT32_MIN);
	ctl_msg_free(&d);
	m.u.report.exit_status = INT32_MAX;
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.report.exit_status, INT32_MAX);
	ctl_msg_free(&d);
}

/* M2: POWER and POWER_DONE, and their enumerations. */
static void
test_power(void)
{
	struct ctl_msg	 m, d;
	struct wire_w	 w;
	char		 err[256];

	memset(&m, 0, sizeof(m));
	m.type = CTL_POWER;
	m.u.power.action = CTL_POWER_POWEROFF;
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.power.action, CTL_POWER_POWEROFF);
	ctl_msg_free(&d);
	m.u.power.action = 3;
	wire_w_grow(&w, 16);
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "action 3") != NULL);
	wire_w_free(&w);

	memset(&m, 0, sizeof(m));
	m.type = CTL_POWER_DONE;
	m.u.power_done.action = CTL_POWER_REBOOT;
	m.u.power_done.ok = 0;
	m.u.power_done.message = "reboot_command exit status 1";
	roundtrip(&m, &d);
	CU_ASSERT_EQUAL(d.u.power_done.action, CTL_POWER_REBOOT);
	CU_ASSERT_EQUAL(d.u.power_done.ok, 0);
	CU_ASSERT_STRING_EQUAL(d.u.power_done.message, m.u.power_done.message);
	ctl_msg_free(&d);
	/* A body with ok = 2 is refused by the decoder. */
	m.u.power_done.ok = 1;
	encode(&m, &w);
	w.buf[CTL_LEN_SIZE + 3] = 2;	/* version, type, action, ok */
	CU_ASSERT(ctl_decode(w.buf + CTL_LEN_SIZE, w.len - CTL_LEN_SIZE, &d,
	    err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "ok 2") != NULL);
	wire_w_free(&w);
}

/*
 * Control v3 (issue #12): ASSIGN without a member id, START without a
 * session are refused on both ends, and a v2 frame is refused with a
 * message that says to upgrade.
 */
static void
test_member_fields(void)
{
	struct ctl_msg	 m, d;
	struct ctl_pkg	 pkgs[2];
	struct wire_w	 w;
	uint8_t		*b;
	char		 err[256];
	size_t		 off;

	make_assign(&m, pkgs);
	m.u.assign.member_id = 0;
	wire_w_grow(&w, 1024);
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "member_id") != NULL);
	wire_w_free(&w);
	/* On the wire: the member id follows the run key. */
	make_assign(&m, pkgs);
	encode(&m, &w);
	b = w.buf + CTL_LEN_SIZE;
	off = 2 + 8 + 2 + strlen(m.u.assign.scenario) + 1 + 2 +
	    strlen(m.u.assign.addr) + 2 + CTL_KEY_LEN;
	CU_ASSERT_EQUAL_FATAL(wire_load64(b + off), m.u.assign.member_id);
	memset(b + off, 0, 8);
	CU_ASSERT(ctl_decode(b, w.len - CTL_LEN_SIZE, &d, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "member_id") != NULL);
	wire_w_free(&w);

	memset(&m, 0, sizeof(m));
	m.type = CTL_START;
	m.u.start.run_id = 9;
	wire_w_grow(&w, 64);
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "session") != NULL);
	wire_w_free(&w);
	m.u.start.session = 1;
	encode(&m, &w);
	b = w.buf + CTL_LEN_SIZE;
	memset(b + 2 + 8 + 2, 0, 8);
	CU_ASSERT(ctl_decode(b, w.len - CTL_LEN_SIZE, &d, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "session") != NULL);
	/* A START of control protocol 2 (no session) from an old server. */
	b[0] = 2;
	CU_ASSERT(ctl_decode(b, 2 + 8 + 2, &d, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "control protocol 2") != NULL &&
	    strstr(err, "upgrade") != NULL);
	wire_w_free(&w);
}

/* Every proper prefix of a valid body and the body plus one byte fail. */
static void
test_truncation_and_trailing(void)
{
	struct ctl_msg	 m, d;
	struct ctl_pkg	 pkgs[2];
	struct wire_w	 w;
	uint8_t		*body;
	size_t		 blen, i;
	char		 err[256];

	make_assign(&m, pkgs);
	encode(&m, &w);
	blen = w.len - CTL_LEN_SIZE;
	for (i = 0; i < blen; i++) {
		body = malloc(i + 1);	/* exact size, for ASan */
		memcpy(body, w.buf + CTL_LEN_SIZE, i);
		CU_ASSERT(ctl_decode(body, i, &d, err, sizeof(err)) == -1);
		free(body);
	}
	body = malloc(blen + 1);
	memcpy(body, w.buf + CTL_LEN_SIZE, blen);
	body[blen] = 0;
	CU_ASSERT(ctl_decode(body, blen + 1, &d, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "after the last field") != NULL);
	CU_ASSERT(ctl_decode(body, blen, &d, err, sizeof(err)) == 0);
	ctl_msg_free(&d);
	free(body);
	wire_w_free(&w);
}

static void
test_bad_headers_and_enums(void)
{
	struct ctl_msg	 m, d;
	struct wire_w	 w;
	uint8_t		*b;
	char		 err[256];

	memset(&m, 0, sizeof(m));
	m.type = CTL_REPORT;
	m.u.report.state = CTL_RS_READY;
	encode(&m, &w);
	b = w.buf + CTL_LEN_SIZE;

	b[0] = CTL_VERSION + 1;
	CU_ASSERT(ctl_decode(b, w.len - 4, &d, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "version") != NULL);
	b[0] = CTL_VERSION;

	b[1] = 0;
	CU_ASSERT(ctl_decode(b, w.len - 4, &d, err, sizeof(err)) == -1);
	b[1] = CTL_TYPE_MAX + 1;
	CU_ASSERT(ctl_decode(b, w.len - 4, &d, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "type") != NULL);
	b[1] = CTL_REPORT;

	/* state is the byte after the 8-byte run id */
	b[2 + 8] = CTL_RS_MAX + 1;
	CU_ASSERT(ctl_decode(b, w.len - 4, &d, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "state") != NULL);
	b[2 + 8] = 0;
	CU_ASSERT(ctl_decode(b, w.len - 4, &d, err, sizeof(err)) == -1);
	b[2 + 8] = CTL_RS_READY;
	/* has_exit after state(1) pkg_index(2) bytes(8) */
	b[2 + 8 + 1 + 2 + 8] = 2;
	CU_ASSERT(ctl_decode(b, w.len - 4, &d, err, sizeof(err)) == -1);
	b[2 + 8 + 1 + 2 + 8] = 0;
	CU_ASSERT(ctl_decode(b, w.len - 4, &d, err, sizeof(err)) == 0);
	ctl_msg_free(&d);
	wire_w_free(&w);

	/* A body shorter than the header. */
	CU_ASSERT(ctl_decode((const uint8_t *)"\x01", 1, &d, err,
	    sizeof(err)) == -1);
	CU_ASSERT(ctl_decode((const uint8_t *)"", 0, &d, err,
	    sizeof(err)) == -1);
}

static void
test_string_rules(void)
{
	struct ctl_msg	 m, d;
	struct wire_w	 w;
	char		 err[256], big[CTL_MAX_NAME + 2];
	uint8_t		 body[64];
	struct wire_w	 bw;

	/* The encoder refuses an empty or over-long name, naming the field. */
	memset(&m, 0, sizeof(m));
	m.type = CTL_HELLO;
	m.u.hello.name = "";
	wire_w_grow(&w, 16);
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "name:", 5) == 0);
	CU_ASSERT_EQUAL(w.len, 0);	/* nothing half-written */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	m.u.hello.name = big;
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "256 bytes, limit 255") != NULL);
	CU_ASSERT_EQUAL(w.len, 0);
	wire_w_free(&w);

	/* The decoder refuses a NUL inside a string. */
	wire_w_fixed(&bw, body, sizeof(body));
	wire_put_u8(&bw, CTL_VERSION);
	wire_put_u8(&bw, CTL_HELLO);
	wire_put_u16(&bw, 3);
	wire_put_bytes(&bw, "a\0b", 3);
	wire_put_u16(&bw, 0);
	wire_put_u16(&bw, 0);
	CU_ASSERT(ctl_decode(body, bw.len, &d, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "NUL") != NULL);
	body[5] = 'x';
	CU_ASSERT(ctl_decode(body, bw.len, &d, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(d.u.hello.name, "axb");
	ctl_msg_free(&d);

	/* ...and a length over the field's limit, before copying anything. */
	wire_w_fixed(&bw, body, sizeof(body));
	wire_put_u8(&bw, CTL_VERSION);
	wire_put_u8(&bw, CTL_HELLO);
	wire_put_u16(&bw, CTL_MAX_NAME + 1);
	CU_ASSERT(ctl_decode(body, bw.len, &d, err, sizeof(err)) == -1);

	/* Too many facts. */
	wire_w_fixed(&bw, body, sizeof(body));
	wire_put_u8(&bw, CTL_VERSION);
	wire_put_u8(&bw, CTL_HEARTBEAT);
	wire_put_u64(&bw, 0);
	wire_put_u8(&bw, 1);
	wire_put_u16(&bw, CTL_MAX_FACTS + 1);
	CU_ASSERT(ctl_decode(body, bw.len, &d, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "facts") != NULL);
}

static void
test_assign_limits(void)
{
	struct ctl_msg	 m, d;
	struct ctl_pkg	 pkgs[2];
	struct wire_w	 w;
	char		 err[256];
	size_t		 off;

	make_assign(&m, pkgs);
	/* Encoder: zero packages, unknown option bits, bad path. */
	wire_w_grow(&w, 16);
	m.u.assign.npkgs = 0;
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	m.u.assign.npkgs = CTL_MAX_PKGS + 1;
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	m.u.assign.npkgs = 2;
	m.u.assign.options = 0x80;
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	m.u.assign.options = 0;
	m.u.assign.path = 2;
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	m.u.assign.path = 0;
	pkgs[0].manifest_len = CTL_MAX_MANIFEST + 1;
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "manifest") != NULL);
	CU_ASSERT_EQUAL(w.len, 0);
	pkgs[0].manifest_len = 1;
	CU_ASSERT(ctl_encode(&m, &w, err, sizeof(err)) == 0);

	/* Decoder: patch the first manifest length to over the limit. */
	off = CTL_LEN_SIZE + 2 + 8 + 2 + strlen("rollout") + 1 + 2 +
	    strlen("239.192.56.7") + 2 + CTL_KEY_LEN + 8 + CTL_KEY_LEN + 1 +
	    2 + 2 + strlen("sp2") + 8 + CTL_HASH_LEN + CTL_SIG_LEN;
	CU_ASSERT_EQUAL(wire_load32(w.buf + off), 1);
	wire_store32(w.buf + off, CTL_MAX_MANIFEST + 1);
	CU_ASSERT(ctl_decode(w.buf + 4, w.len - 4, &d, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "manifest") != NULL);
	wire_store32(w.buf + off, 0xffffffffU);
	CU_ASSERT(ctl_decode(w.buf + 4, w.len - 4, &d, err,
	    sizeof(err)) == -1);
	wire_w_free(&w);
}

static void
test_frame_check(void)
{
	uint8_t	buf[8] = { 0 };
	size_t	total = 0;
	char	err[256];

	CU_ASSERT(ctl_frame_check(buf, 3, CTL_MAX_FRAME, &total, err,
	    sizeof(err)) == 1);
	wire_store32(buf, 0);
	CU_ASSERT(ctl_frame_check(buf, 8, CTL_MAX_FRAME, &total, err,
	    sizeof(err)) == -1);
	wire_store32(buf, CTL_MAX_FRAME + 1);
	CU_ASSERT(ctl_frame_check(buf, 4, CTL_MAX_FRAME, &total, err,
	    sizeof(err)) == -1);
	/* The reader's own, tighter limit applies. */
	wire_store32(buf, CTL_MAX_AGENT_FRAME + 1);
	CU_ASSERT(ctl_frame_check(buf, 4, CTL_MAX_AGENT_FRAME, &total, err,
	    sizeof(err)) == -1);
	CU_ASSERT(ctl_frame_check(buf, 4, CTL_MAX_FRAME, &total, err,
	    sizeof(err)) == 1);
	wire_store32(buf, 4);
	CU_ASSERT(ctl_frame_check(buf, 7, CTL_MAX_FRAME, &total, err,
	    sizeof(err)) == 1);
	CU_ASSERT(ctl_frame_check(buf, 8, CTL_MAX_FRAME, &total, err,
	    sizeof(err)) == 0);
	CU_ASSERT_EQUAL(total, 8);
}

static void
test_evbuffer(void)
{
	struct evbuffer	*b;
	struct ctl_msg	 m, d;
	struct wire_w	 w;
	char		 err[256];
	uint8_t		 hdr[4];

	b = evbuffer_new();
	memset(&m, 0, sizeof(m));
	m.type = CTL_START;
	m.u.start.run_id = 1;
	m.u.start.session = 5;
	CU_ASSERT(ctl_write(b, &m, err, sizeof(err)) == 0);
	m.u.start.run_id = 2;
	encode(&m, &w);
	/* The second frame arrives in two pieces. */
	evbuffer_add(b, w.buf, 5);
	CU_ASSERT(ctl_read(b, CTL_MAX_FRAME, &d, err, sizeof(err)) == 1);
	CU_ASSERT_EQUAL(d.u.start.run_id, 1);
	ctl_msg_free(&d);
	CU_ASSERT(ctl_read(b, CTL_MAX_FRAME, &d, err, sizeof(err)) == 0);
	evbuffer_add(b, w.buf + 5, w.len - 5);
	CU_ASSERT(ctl_read(b, CTL_MAX_FRAME, &d, err, sizeof(err)) == 1);
	CU_ASSERT_EQUAL(d.u.start.run_id, 2);
	ctl_msg_free(&d);
	CU_ASSERT(ctl_read(b, CTL_MAX_FRAME, &d, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(evbuffer_get_length(b), 0);
	wire_w_free(&w);

	/* An oversized length fails at once, not after megabytes arrived. */
	wire_store32(hdr, CTL_MAX_FRAME + 1);
	evbuffer_add(b, hdr, sizeof(hdr));
	CU_ASSERT(ctl_read(b, CTL_MAX_FRAME, &d, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "frame") != NULL);
	evbuffer_free(b);
}

/* The one machine/scenario name rule (M1), with the reason for each refusal. */
static void
test_check_name(void)
{
	char	err[512], big[CTL_MAX_NAME + 2];

	CU_ASSERT_EQUAL(ctl_check_name("name", "vm-1.lab_a", err,
	    sizeof(err)), 0);
	memset(big, 'a', CTL_MAX_NAME);
	big[CTL_MAX_NAME] = '\0';
	CU_ASSERT_EQUAL(ctl_check_name("name", big, err, sizeof(err)), 0);
	big[CTL_MAX_NAME] = 'a';
	big[CTL_MAX_NAME + 1] = '\0';
	CU_ASSERT_EQUAL(ctl_check_name("name", big, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "256 bytes"));
	CU_ASSERT_EQUAL(ctl_check_name("name", "", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(ctl_check_name("NAME", "a b", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "NAME: 'a b' holds byte 0x20"));
	/* The agent used to accept these; the server never did. */
	CU_ASSERT_EQUAL(ctl_check_name("name", "-vm", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "starts with '-'"));
	CU_ASSERT_EQUAL(ctl_check_name("name", ".vm", err, sizeof(err)), -1);
}

static CU_TestInfo tests[] = {
	{ "machine and scenario names", test_check_name },
	{ "enroll, cert, hello, welcome, error", test_enroll_cert_hello },
	{ "heartbeat with and without facts", test_heartbeat },
	{ "assign round trip", test_assign },
	{ "start, cancel, report", test_start_cancel_report },
	{ "member id and session (v3)", test_member_fields },
	{ "truncation and trailing bytes", test_truncation_and_trailing },
	{ "bad version, type, enumerations", test_bad_headers_and_enums },
	{ "string length and NUL rules", test_string_rules },
	{ "assign limits", test_assign_limits },
	{ "frame check", test_frame_check },
	{ "power messages", test_power },
	{ "evbuffer framing", test_evbuffer },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("ctl", tests));
}
