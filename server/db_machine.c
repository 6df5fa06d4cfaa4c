/*
 * The machines of the inventory (db.c has the database itself): their
 * enrollment (a request and its key, other requests for the same name,
 * the approval, the pinned certificate), their online state, address,
 * segment, facts and sticky error, and the enrollment tokens, kept as a
 * hash of their secret with their uses and expiry.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "db_int.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

/* ---- machines ---- */

static enum db_enroll
enroll_parse(const char *s)
{
	if (s == NULL)
		return (DB_ENROLL_NONE);
	if (strcmp(s, "pending") == 0)
		return (DB_ENROLL_PENDING);
	if (strcmp(s, "approved") == 0)
		return (DB_ENROLL_APPROVED);
	if (strcmp(s, "enrolled") == 0)
		return (DB_ENROLL_ENROLLED);
	return (DB_ENROLL_NONE);
}

/* 1 when the machine exists, 0 when not, -1 on error. */
int
db_machine_get(struct db *db, const char *name, struct db_machine *m)
{
	sqlite3_stmt	*st;
	int		 rv;

	memset(m, 0, sizeof(*m));
	st = db_prep(db, "SELECT enroll, csr, cert_fp, error, reenroll, "
	    "csr_fp FROM machines WHERE name = ?", "s", name);
	if ((rv = db_step_row(db, st, "machine")) != 1)
		return (rv);
	m->enroll = enroll_parse((const char *)sqlite3_column_text(st, 0));
	m->csr = db_col_strdup(st, 1);
	m->cert_fp = db_col_strdup(st, 2);
	m->error = db_col_strdup(st, 3);
	m->reenroll = sqlite3_column_int(st, 4);
	m->csr_fp = db_col_strdup(st, 5);
	sqlite3_finalize(st);
	return (1);
}

void
db_machine_clear(struct db_machine *m)
{
	free(m->csr);
	free(m->csr_fp);
	free(m->cert_fp);
	free(m->error);
	memset(m, 0, sizeof(*m));
}

/*
 * Record an enrollment request with its CSR and the fingerprint of its
 * key (fp).  A request keeps its key until an admin decides (finding 9 of
 * issue #12): the same key asking again refreshes it (an approval for it
 * holds), another key asking for the name while a request waits is
 * another request, kept beside it (enroll_requests) and listed as such,
 * never a replacement.  For an enrolled name the request is only noted
 * (reenroll): its certificate stays valid until an admin approves the new
 * key.  DB_REQUEST_MAIN: it is the name's request; DB_REQUEST_OTHER: kept
 * as another one; DB_REQUEST_FULL: the name has DB_MAX_OTHER_REQUESTS
 * others already, nothing kept; -1 on a database error.
 */
int
db_machine_request(struct db *db, const char *name, const char *csr,
    const char *fp, const char *address, uint64_t now)
{
	struct db_machine	m;
	int			rv, has_request;
	int64_t			n = 0;

	if ((rv = db_machine_get(db, name, &m)) == -1)
		return (-1);
	if (rv == 0)
		return (db_exec(db, "INSERT INTO machines (name, enroll, csr, "
		    "csr_fp, address, created_at) VALUES (?, 'pending', ?, ?, "
		    "?, ?)", "ssssu", name, csr, fp, address, now) == -1 ? -1 :
		    DB_REQUEST_MAIN);
	has_request = m.csr_fp != NULL && (m.enroll != DB_ENROLL_ENROLLED ||
	    m.reenroll);
	rv = has_request && strcmp(m.csr_fp, fp) != 0;
	db_machine_clear(&m);
	if (!rv)
		return (db_exec(db, "UPDATE machines SET csr = ?2, csr_fp = ?3, "
		    "address = CASE enroll WHEN 'enrolled' THEN address ELSE "
		    "?4 END, reenroll = CASE enroll WHEN 'enrolled' THEN 1 "
		    "ELSE 0 END WHERE name = ?1", "ssss", name, csr, fp,
		    address) == -1 ? -1 : DB_REQUEST_MAIN);
	if (db_query_int64(db, &n, "SELECT COUNT(*) FROM enroll_requests "
	    "WHERE name = ? AND csr_fp <> ?", "ss", name, fp) == -1)
		return (-1);
	if (n >= DB_MAX_OTHER_REQUESTS)
		return (DB_REQUEST_FULL);
	return (db_exec(db, "INSERT INTO enroll_requests (name, csr_fp, csr, "
	    "address, requested_at) VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT(name, csr_fp) DO UPDATE SET csr = ?3, address = ?4, "
	    "requested_at = ?5", "ssssu", name, fp, csr, address, now) == -1 ?
	    -1 : DB_REQUEST_OTHER);
}

/* fp: 16 to 64 hex digits, either case, a prefix of a key fingerprint. */
static int
fp_valid(const char *fp)
{
	size_t	i, len = strlen(fp);

	if (len < 16 || len > SHA256_LEN * 2)
		return (0);
	for (i = 0; i < len; i++)
		if (!((fp[i] >= '0' && fp[i] <= '9') ||
		    (fp[i] >= 'a' && fp[i] <= 'f') ||
		    (fp[i] >= 'A' && fp[i] <= 'F')))
			return (0);
	return (1);
}

/*
 * The other request of name whose key fingerprint starts with fp, made
 * the name's request (the one an approval is for); 1 when there was one.
 */
static int
db_machine_take_other(struct db *db, const char *name, const char *fp)
{
	int	rv;

	rv = db_exec(db, "UPDATE machines SET (csr, csr_fp, address) = "
	    "(SELECT r.csr, r.csr_fp, CASE machines.enroll WHEN 'enrolled' "
	    "THEN machines.address ELSE r.address END FROM enroll_requests r "
	    "WHERE r.name = ?1 AND lower(substr(r.csr_fp, 1, length(?2))) = "
	    "lower(?2) ORDER BY r.requested_at LIMIT 1), "
	    "reenroll = CASE enroll WHEN 'enrolled' THEN 1 ELSE 0 END, "
	    "enroll = CASE enroll WHEN 'approved' THEN 'pending' ELSE enroll "
	    "END WHERE name = ?1 AND EXISTS (SELECT 1 FROM enroll_requests r "
	    "WHERE r.name = ?1 AND lower(substr(r.csr_fp, 1, length(?2))) = "
	    "lower(?2))", "ss", name, fp);
	return (rv);
}

/*
 * An admin approves a request of name: the name's request (its first key
 * that still waits), or with fp (what the admin was shown, a prefix)
 * whichever of its requests has that key, another request included.  That
 * is the decision: the name's other requests are dropped.  The approved
 * fingerprint goes to approved (65 bytes).
 */
int
db_machine_approve(struct db *db, const char *name, const char *fp,
    uint64_t now, char *approved, char *err, size_t errlen, int *status)
{
	struct db_machine	m;
	int			rv;

	if (fp != NULL && !fp_valid(fp)) {
		snprintf(err, errlen, "--fingerprint: '%s' must be 16 to 64 "
		    "hex digits of the key fingerprint 'machine show' gives",
		    fp);
		*status = 422;
		return (-1);
	}
	if ((rv = db_machine_get(db, name, &m)) == -1) {
		snprintf(err, errlen, "database error");
		*status = 500;
		return (-1);
	}
	if (rv == 0) {
		snprintf(err, errlen, "machine %s: no such machine (its agent "
		    "must ask to enroll first)", name);
		*status = 404;
		return (-1);
	}
	/* The key the admin names may be one of the other requests. */
	if (fp != NULL && (m.csr_fp == NULL ||
	    strncasecmp(m.csr_fp, fp, strlen(fp)) != 0)) {
		if ((rv = db_machine_take_other(db, name, fp)) == -1) {
			db_machine_clear(&m);
			snprintf(err, errlen, "database error");
			*status = 500;
			return (-1);
		}
		if (rv == 0) {
			snprintf(err, errlen, "machine %s: no request has key "
			    "fingerprint %s (its request has %.16s...); check "
			    "'fleetcast machine show %s'", name, fp,
			    m.csr_fp != NULL ? m.csr_fp : "none", name);
			db_machine_clear(&m);
			*status = 409;
			return (-1);
		}
		db_machine_clear(&m);
		if (db_machine_get(db, name, &m) != 1) {
			snprintf(err, errlen, "database error");
			*status = 500;
			return (-1);
		}
	}
	rv = m.enroll;
	if ((rv == DB_ENROLL_ENROLLED && !m.reenroll) ||
	    rv == DB_ENROLL_APPROVED) {
		db_machine_clear(&m);
		snprintf(err, errlen, "machine %s: already %s", name,
		    rv == DB_ENROLL_ENROLLED ? "enrolled" : "approved");
		*status = 409;
		return (-1);
	}
	if (m.csr_fp == NULL) {
		db_machine_clear(&m);
		snprintf(err, errlen, "machine %s: its request was made before "
		    "requests had key fingerprints; approve it when its agent "
		    "has asked again", name);
		*status = 409;
		return (-1);
	}
	snprintf(approved, SHA256_LEN * 2 + 1, "%s", m.csr_fp);
	db_machine_clear(&m);
	if (db_exec(db, "UPDATE machines SET enroll = 'approved', "
	    "reenroll = 0 WHERE name = ? AND csr_fp = ?", "ss", name,
	    approved) != 1 ||
	    db_exec(db, "DELETE FROM enroll_requests WHERE name = ?", "s",
	    name) == -1) {
		snprintf(err, errlen, "database error");
		*status = 500;
		return (-1);
	}
	db_event(db, now, "approve", 0, name, "enrollment approved for the key "
	    "with fingerprint %s", approved);
	return (0);
}

int
db_machine_enrolled(struct db *db, const char *name, const char *fp,
    uint64_t now)
{
	if (db_exec(db, "UPDATE machines SET enroll = 'enrolled', csr = NULL, "
	    "csr_fp = NULL, reenroll = 0, cert_fp = ? WHERE name = ?", "ss",
	    fp, name) != 1 ||
	    db_exec(db, "DELETE FROM enroll_requests WHERE name = ?", "s",
	    name) == -1)
		return (-1);
	db_event(db, now, "enroll", 0, name, "certificate issued");
	return (0);
}

int
db_machine_online(struct db *db, const char *name, int online,
    const char *address, const char *segment, const char *boot_id,
    uint64_t now)
{
	if (online)
		return (db_exec(db, "UPDATE machines SET online = 1, "
		    "address = ?, segment = ?, boot_id = ?, last_seen = ? "
		    "WHERE name = ?", "sssus", address, segment, boot_id, now,
		    name) == -1 ? -1 : 0);
	return (db_exec(db, "UPDATE machines SET online = 0 WHERE name = ?",
	    "s", name) == -1 ? -1 : 0);
}

int
db_machine_seen(struct db *db, const char *name, uint64_t now)
{
	return (db_exec(db, "UPDATE machines SET last_seen = ? WHERE "
	    "name = ?", "us", now, name) == -1 ? -1 : 0);
}

int
db_machine_facts(struct db *db, const char *name, const char *facts)
{
	return (db_exec(db, "UPDATE machines SET facts = ? WHERE name = ?",
	    "ss", facts, name) == -1 ? -1 : 0);
}

int
db_machine_agent_version(struct db *db, const char *name,
    const char *version)
{
	return (db_exec(db, "UPDATE machines SET agent_version = ? WHERE "
	    "name = ?", "ss", version, name) == -1 ? -1 : 0);
}

/* Set (msg) or clear (NULL) the sticky scenario error; 0 if no machine. */
int
db_machine_set_error(struct db *db, const char *name, const char *msg)
{
	return (db_exec(db, "UPDATE machines SET error = ? WHERE name = ?",
	    "ss", msg, name));
}

/* How many requests (a name's, and other ones) wait for an admin. */
int64_t
db_machines_pending(struct db *db)
{
	int64_t	n = -1;

	if (db_query_int64(db, &n, "SELECT (SELECT COUNT(*) FROM machines "
	    "WHERE enroll = 'pending') + (SELECT COUNT(*) FROM "
	    "enroll_requests)", NULL) == -1)
		return (-1);
	return (n);
}

/* At start-up nobody is connected yet. */
int
db_machines_offline(struct db *db)
{
	return (db_exec(db, "UPDATE machines SET online = 0", NULL) == -1 ?
	    -1 : 0);
}

/*
 * Each machine's other requests (keys that asked for its name while its
 * request waited) as "other_requests": fingerprint, address, time.  They
 * are few (DB_MAX_OTHER_REQUESTS a name, CONTROL_MAX_PENDING in all).
 */
static void
db_machines_other_requests(struct db *db, json_t *machines, const char *name)
{
	json_t		*r, *o, *m;
	size_t		 i, j;
	const char	*rn;

	json_array_foreach(machines, i, m)
		json_object_set_new(m, "other_requests", json_array());
	r = db_query_json(db, "SELECT name, csr_fp AS fingerprint, address, "
	    "requested_at FROM enroll_requests WHERE ?1 IS NULL OR name = ?1 "
	    "ORDER BY name, requested_at", "s", name);
	json_array_foreach(r, i, o) {
		rn = json_string_value(json_object_get(o, "name"));
		json_array_foreach(machines, j, m)
			if (rn != NULL && strcmp(rn, json_string_value(
			    json_object_get(m, "name"))) == 0) {
				json_object_del(o, "name");
				json_array_append(json_object_get(m,
				    "other_requests"), o);
				break;
			}
	}
	json_decref(r);
}

json_t *
db_machines_json(struct db *db, const char *name)
{
	json_t	*a;

	a = db_query_json(db, "SELECT name, CASE enroll WHEN 'enrolled' "
	    "THEN CASE online WHEN 1 THEN 'online' ELSE 'offline' END "
	    "WHEN 'approved' THEN 'approved' ELSE 'pending_approval' END "
	    "AS state, online, enroll AS enrollment, CASE reenroll WHEN 1 "
	    "THEN 'requested' ELSE NULL END AS reenrollment, CASE WHEN "
	    "enroll <> 'enrolled' OR reenroll = 1 THEN csr_fp ELSE NULL END "
	    "AS request_fingerprint, address, segment, "
	    "last_seen, error, agent_version, boot_id, created_at, facts "
	    "FROM machines WHERE ?1 IS NULL OR name = ?1 ORDER BY name", "s",
	    name);
	if (a != NULL)
		db_machines_other_requests(db, a, name);
	return (name == NULL ? a : db_json_first(a));
}

/* ---- enrollment tokens ---- */

/* Keep a new token: its id, the SHA-256 of its secret, its limits. */
int
db_token_add(struct db *db, const char *id, const uint8_t hash[SHA256_LEN],
    const char *machine, int64_t uses, uint64_t expires_at, uint64_t now,
    const char *origin)
{
	return (db_exec(db, "INSERT INTO enroll_tokens (id, hash, machine, "
	    "uses_left, expires_at, created_at, origin) VALUES (?, ?, ?, ?, "
	    "?, ?, ?)", "sbsiuus", id, hash, (size_t)SHA256_LEN, machine, uses,
	    expires_at, now, origin) == 1 ? 0 : -1);
}

/* Drop the tokens of an origin (the file token of the last start). */
int
db_token_drop_origin(struct db *db, const char *origin)
{
	return (db_exec(db, "DELETE FROM enroll_tokens WHERE origin = ?", "s",
	    origin) == -1 ? -1 : 0);
}

/* Revoke a token by its id: 1 if there was one, 0 if not, -1 on error. */
int
db_token_remove(struct db *db, const char *id)
{
	return (db_exec(db, "DELETE FROM enroll_tokens WHERE id = ?", "s", id));
}

/*
 * Is the token (id, hash of its secret) good for enrolling name now?  1
 * when it is, 0 when not, with the reason in err, -1 on a database error.
 * Only a caller who holds the secret learns more than "not a token of
 * this server": whether it expired, is used up or is for another name.
 */
int
db_token_check(struct db *db, const char *id, const uint8_t hash[SHA256_LEN],
    const char *name, uint64_t now, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	const void	*h;
	const char	*machine;
	char		 tbuf[40];
	int		 rv;

	st = db_prep(db, "SELECT hash, machine, uses_left, uses, expires_at "
	    "FROM enroll_tokens WHERE id = ?", "s", id);
	if ((rv = db_step_row(db, st, "enroll token")) == -1)
		return (-1);
	if (rv == 0 || (h = sqlite3_column_blob(st, 0)) == NULL ||
	    sqlite3_column_bytes(st, 0) != SHA256_LEN ||
	    CRYPTO_memcmp(h, hash, SHA256_LEN) != 0) {
		if (rv == 1)
			sqlite3_finalize(st);
		snprintf(err, errlen, "not a token of this server (unknown, "
		    "revoked or replaced at a restart); make one with "
		    "'fleetcast machine token'");
		return (0);
	}
	rv = 0;
	machine = (const char *)sqlite3_column_text(st, 1);
	if ((uint64_t)sqlite3_column_int64(st, 4) <= now)
		snprintf(err, errlen, "expired at %s", db_format_time(
		    (uint64_t)sqlite3_column_int64(st, 4), tbuf,
		    sizeof(tbuf)));
	else if (sqlite3_column_int64(st, 2) <= 0)
		snprintf(err, errlen, "used up (%lld uses)",
		    (long long)sqlite3_column_int64(st, 3));
	else if (machine != NULL && strcmp(machine, name) != 0)
		snprintf(err, errlen, "for machine %s, not %s", machine, name);
	else
		rv = 1;
	sqlite3_finalize(st);
	return (rv);
}

/* One use of a token; 0 when it was used, -1 when it has none left. */
int
db_token_consume(struct db *db, const char *id)
{
	return (db_exec(db, "UPDATE enroll_tokens SET uses_left = uses_left "
	    "- 1, uses = uses + 1 WHERE id = ? AND uses_left > 0", "s",
	    id) == 1 ? 0 : -1);
}

json_t *
db_tokens_json(struct db *db)
{
	return (db_query_json(db, "SELECT id, machine, uses_left, uses, "
	    "expires_at, created_at, origin FROM enroll_tokens ORDER BY "
	    "created_at, id", NULL));
}

/* A machine's event log, oldest first: its last n events (M2, M4). */
json_t *
db_machine_events_json(struct db *db, const char *name, int64_t n)
{
	return (db_query_json(db, "SELECT at, kind, run_id, message FROM "
	    "(SELECT id, at, kind, run_id, message FROM events WHERE "
	    "machine = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id", "si", name,
	    n));
}

/*
 * The machines by state (as db_machines_json names them) and those with
 * a sticky error, for GET /metrics: {"online": N, ..., "error": N}.
 */
json_t *
db_machine_counts(struct db *db)
{
	json_t	*a, *o, *r;
	size_t	 i;
	int64_t	 err = 0;

	a = db_query_json(db, "SELECT CASE enroll WHEN 'enrolled' THEN CASE "
	    "online WHEN 1 THEN 'online' ELSE 'offline' END WHEN 'approved' "
	    "THEN 'approved' ELSE 'pending_approval' END AS state, COUNT(*) "
	    "AS n FROM machines GROUP BY 1", NULL);
	if (a == NULL || db_query_int64(db, &err, "SELECT COUNT(*) FROM "
	    "machines WHERE error IS NOT NULL", NULL) == -1) {
		json_decref(a);
		return (NULL);
	}
	o = json_object();
	json_array_foreach(a, i, r)
		json_object_set(o, json_string_value(json_object_get(r,
		    "state")), json_object_get(r, "n"));
	json_object_set_new(o, "error", json_integer(err));
	json_decref(a);
	return (o);
}
