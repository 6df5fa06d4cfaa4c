/*
 * Verifying and running a run's packages.  A package is verified while it
 * is received: the receiver hands its bytes over in file order, the
 * header, manifest and signature must be those the server assigned and
 * the payload must hash to the signed manifest's payload_sha256 (the
 * transport does not hash the file as well: one pass).  The received file
 * is then checked again (size, signature, the assigned manifest; its
 * payload hashed again only when it was not verified while received: an
 * agent restarted after the transfer) and extracted in a child process,
 * so that the loop keeps beating while a large archive unpacks.  Once every package is delivered, the
 * executables run in order, each in its package directory with the
 * parameters of its manifest; a package is stored as running before it
 * starts, so that a restart knows it may have run, and what became of it
 * is stored (with the installed package, on success) in one transaction.
 * on-error stop turns the packages after a failure into skipped ones
 * (P13).  The results go to run.c through runs->fsm and runs->finish.
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "ctl.h"
#include "log.h"
#include "pkg_stream.h"
#include "run_int.h"
#include "xmalloc.h"

#define RUN_VERIFY_TIMEOUT	3600	/* s for verify + extract */

/* Verifying the current package while it is received (pkg_stream.c). */
struct run_exec_stream {
	uint16_t		 pkg;		/* rec->pkgs index */
	struct pkg_stream	*ps;
	int			 verified;	/* no second pass needed */
};

void
run_exec_stream_free(struct run *r)
{
	if (r->stream == NULL)
		return;
	pkg_stream_free(r->stream->ps);
	free(r->stream);
	r->stream = NULL;
}

/*
 * Verify package pkg_index as it comes.  Only with the run's manifests
 * verified (run.c's run_decode): the bytes are compared with a signed
 * manifest and its payload digest.
 */
int
run_exec_stream_begin(struct run *r)
{
	struct run_pkg		*p = &r->rec->pkgs[r->rec->pkg_index];
	struct pkg_stream	*ps;

	run_exec_stream_free(r);
	if (r->m == NULL || (ps = pkg_stream_new(p->manifest, p->manifest_len,
	    p->signature, r->m[r->rec->pkg_index].payload_sha256,
	    r->m[r->rec->pkg_index].payload_size)) == NULL)
		return (-1);
	r->stream = xcalloc(1, sizeof(*r->stream));
	r->stream->pkg = r->rec->pkg_index;
	r->stream->ps = ps;
	return (0);
}

/* xrecv_cb.data: bytes of the file, in order, each once. */
void
run_exec_stream_data(void *arg, uint64_t off, const uint8_t *buf, size_t len)
{
	struct run	*r = arg;

	if (r->stream != NULL)
		pkg_stream_update(r->stream->ps, off, buf, len);
}

/* xrecv_cb.check, before the rename. */
int
run_exec_stream_check(void *arg, char *err, size_t errlen)
{
	struct run	*r = arg;
	char		 why[256];

	if (r->stream == NULL || r->stream->pkg != r->rec->pkg_index) {
		snprintf(err, errlen, "package %u: not verified while it was "
		    "received", r->rec->pkg_index);
		return (-1);
	}
	if (pkg_stream_final(r->stream->ps, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", r->rec->pkgs[r->stream->pkg].id,
		    why);
		return (-1);
	}
	r->stream->verified = 1;
	return (0);
}

/* Verify and extract, in a child: the arguments it needs. */
struct run_exec_verify {
	char		*file;
	char		*dir;
	const uint8_t	*manifest;
	size_t		 manifest_len;
	uint64_t	 size;
	const uint8_t	(*keys)[ED25519_PUB_LEN];	/* trusted_keys */
	size_t		 nkeys;
	int		 hashed;	/* payload verified while received */
};

static int
run_exec_verify_fn(void *arg, char *err, size_t errlen)
{
	struct run_exec_verify	*v = arg;
	struct pkg		*p;
	struct stat		 sb;
	const uint8_t		*raw;
	size_t			 len;
	int			 rv;

	if (stat(v->file, &sb) == -1) {
		snprintf(err, errlen, "%s: %s", v->file, strerror(errno));
		return (1);
	}
	if ((uint64_t)sb.st_size != v->size) {
		snprintf(err, errlen, "%s: %lld bytes, the server announced %"
		    PRIu64, v->file, (long long)sb.st_size, v->size);
		return (2);
	}
	rv = pkg_open(&p, v->file, v->keys, v->nkeys, v->hashed ?
	    PKG_OPEN_PAYLOAD_VERIFIED : 0, err, errlen);
	if (rv != 0)
		return (rv == PKG_EINPUT ? 2 : 1);
	raw = pkg_get_manifest_raw(p, &len);
	if (len != v->manifest_len || memcmp(raw, v->manifest, len) != 0) {
		snprintf(err, errlen, "%s: its manifest is not the one the "
		    "server assigned", v->file);
		pkg_close(p);
		return (2);
	}
	/* A restart after the rename but before it was stored. */
	if (lstat(v->dir, &sb) == 0)
		(void)pkg_remove_tree(v->dir);
	rv = pkg_extract(p, v->dir, err, errlen);
	pkg_close(p);
	return (rv == 0 ? 0 : 1);
}

static void
run_exec_verify_done(const struct exec_result *res, void *arg)
{
	struct run		*r = arg;
	struct run_evdata	 d;
	char			*text;

	r->job = NULL;
	memset(&d, 0, sizeof(d));
	d.ok = res->how == EXEC_EXITED && res->exit_status == 0;
	text = exec_tail_text(res);
	text[strcspn(text, "\n")] = '\0';
	d.error = text[0] != '\0' ? text : "verification ended abnormally";
	r->ctx->fsm(r, RUN_EV_VERIFIED, &d);
	free(text);
}

int
run_exec_verify_start(struct run *r, char *err, size_t errlen)
{
	struct run_exec_verify	v;
	struct run_pkg		*p = &r->rec->pkgs[r->rec->pkg_index];
	char			file[1024], dir[1024];

	v.file = (char *)run_pkgfile(r, r->rec->pkg_index, file, sizeof(file));
	v.dir = (char *)run_pkgdir(r, r->rec->pkg_index, dir, sizeof(dir));
	v.manifest = p->manifest;
	v.manifest_len = p->manifest_len;
	v.size = p->size;
	v.keys = (const uint8_t (*)[ED25519_PUB_LEN])r->agent->keys;
	v.nkeys = r->agent->nkeys;
	/*
	 * Hashed while received, by this process, into the run's root-only
	 * staging directory: the child checks everything but the payload's
	 * hash.  After a restart the file is hashed here.
	 */
	v.hashed = r->stream != NULL && r->stream->verified &&
	    r->stream->pkg == r->rec->pkg_index;
	if (v.hashed)
		log_debug("run %" PRIu64 ": package %s: verified while "
		    "received, the payload is not hashed again", r->rec->run_id,
		    p->id);
	run_exec_stream_free(r);
	/* The child gets a copy of v with the fork: nothing is shared. */
	r->job = exec_fork(run_exec_verify_fn, &v, RUN_VERIFY_TIMEOUT,
	    run_exec_verify_done, r, err, errlen);
	return (r->job == NULL ? -1 : 0);
}

/* Running packages. */

static void
run_exec_done(const struct exec_result *res, void *arg)
{
	struct run		*r = arg;
	struct run_evdata	 d;

	r->job = NULL;
	memset(&d, 0, sizeof(d));
	d.res = res;
	r->ctx->fsm(r, RUN_EV_EXECUTED, &d);
}

/*
 * Store what became of package i and, on success, that it is installed,
 * in one transaction.
 */
int
run_exec_outcome(struct run *r, size_t i, int pstate, int has_exit,
    int32_t exit_status, const char *msg, const char *output)
{
	struct run_pkg	*p = &r->rec->pkgs[i];
	char		 err[512];

	p->state = pstate;
	p->has_exit = has_exit;
	p->exit_status = exit_status;
	free(p->message);
	p->message = xstrdup(msg != NULL ? msg : "");
	if (output != NULL) {
		free(p->output);
		p->output = xstrdup(output);
	}
	if (state_begin(r->agent->state, err, sizeof(err)) == -1)
		goto fail;
	if (pstate == RUN_P_SUCCEEDED && state_installed_add(r->agent->state,
	    &r->m[i], r->rec->run_id, err, sizeof(err)) == -1) {
		state_rollback(r->agent->state);
		goto fail;
	}
	if (run_save(r, err, sizeof(err)) == -1) {
		state_rollback(r->agent->state);
		goto fail;
	}
	if (state_commit(r->agent->state, err, sizeof(err)) == -1)
		goto fail;
	log_info("run %" PRIu64 ": package %s: %s%s%s", r->rec->run_id, p->id,
	    pstate == RUN_P_SUCCEEDED ? "succeeded" : pstate ==
	    RUN_P_INTERRUPTED ? "interrupted" : pstate == RUN_P_SKIPPED ?
	    "skipped" : "failed", p->message[0] ? ": " : "", p->message);
	if (pstate == RUN_P_SUCCEEDED)
		facts_refresh(&r->agent->collect);
	return (0);
fail:
	log_warnx("run %" PRIu64 ": package %s: outcome not stored: %s",
	    r->rec->run_id, p->id, err);
	return (-1);
}

/* Decide the run's outcome from its packages, then finish it. */
static void
run_exec_conclude(struct run *r)
{
	size_t		 i, nfail = 0, nint = 0, nok = 0;
	struct run_pkg	*first = NULL;
	char		 detail[64] = "";

	for (i = 0; i < r->rec->npkgs; i++) {
		switch (r->rec->pkgs[i].state) {
		case RUN_P_SUCCEEDED:
			nok++;
			break;
		case RUN_P_FAILED:
			nfail++;
			if (first == NULL)
				first = &r->rec->pkgs[i];
			break;
		case RUN_P_INTERRUPTED:
			nint++;
			if (first == NULL)
				first = &r->rec->pkgs[i];
			break;
		default:
			break;
		}
	}
	if (r->rec->npkgs > 1)
		snprintf(detail, sizeof(detail), " (%zu of %zu packages "
		    "succeeded)", nok, r->rec->npkgs);
	if (nfail > 0)
		r->ctx->finish(r, CTL_RS_FAILED, 0, "%s: %s%s", first->id,
		    first->message, detail);
	else if (nint > 0)
		r->ctx->finish(r, CTL_RS_INTERRUPTED, 0, "%s: %s%s", first->id,
		    first->message, detail);
	else
		r->ctx->finish(r, CTL_RS_SUCCEEDED, 0, "%s", "");
}

/*
 * May package i of the run start, as its high-water mark stands now?  1
 * yes, 0 no (the reason in why), -1 the mark could not be read (why says
 * so).  Asked when the run is accepted, so that a machine does not join a
 * transfer it would refuse, and again right before the package runs
 * (run_exec_next), since another run may have raised the mark meanwhile.
 */
int
run_exec_mark_ok(struct run *r, size_t i, char *why, size_t whylen)
{
	struct pkg_mark	mark;
	int		found;
	char		err[512];

	if (state_mark_get(r->agent->state, r->m[i].id, &mark, &found, err,
	    sizeof(err)) == -1) {
		snprintf(why, whylen, "state_dir: %s", err);
		return (-1);
	}
	if (applic_mark_check(&r->m[i], found ? &mark : NULL, why,
	    whylen) != 1)
		return (0);
	/* M4: an agent package must be newer than this agent. */
	if (upgrade_is_agent(&r->m[i]))
		return (upgrade_check(r->agent->upgrade, &r->m[i], why,
		    whylen));
	return (1);
}

/* Package i could not start: it failed, the run goes on with the next. */
static void
run_exec_refuse(struct run *r, size_t i, const char *err)
{
	if (run_exec_outcome(r, i, RUN_P_FAILED, 0, 0, err, NULL) == -1)
		r->ctx->finish(r, CTL_RS_FAILED, 0, "%s: %s",
		    r->rec->pkgs[i].id, err);
	else
		run_exec_next(r);
}

/* Package i as running and its high-water mark, in one transaction. */
static int
run_exec_store_running(struct run *r, size_t i, char *err, size_t errlen)
{
	if (state_begin(r->agent->state, err, errlen) == -1)
		return (-1);
	if (state_mark_raise(r->agent->state, &r->m[i], r->rec->run_id, err,
	    errlen) == -1 || run_save(r, err, errlen) == -1) {
		state_rollback(r->agent->state);
		return (-1);
	}
	return (state_commit(r->agent->state, err, errlen));
}

/*
 * Run package pkg_index, or go on to the next one that is still to run;
 * when none is left, conclude.  on-error stop turns the packages after a
 * failure into skipped ones (P13).
 */
void
run_exec_next(struct run *r)
{
	struct exec_spec	  spec;
	struct run_pkg		 *p;
	char			**argv, **envp, dir[1024], err[512];
	size_t			  i;
	int			  failed = 0, ok;

	for (i = 0; i < r->rec->npkgs; i++)
		if (r->rec->pkgs[i].state == RUN_P_FAILED ||
		    r->rec->pkgs[i].state == RUN_P_INTERRUPTED)
			failed = 1;
	for (i = 0; i < r->rec->npkgs; i++)
		if (r->rec->pkgs[i].state == RUN_P_DELIVERED)
			break;
	if (i == r->rec->npkgs) {
		run_exec_conclude(r);
		return;
	}
	if (failed && (r->rec->options & CTL_OPT_STOP_ON_ERROR)) {
		for (; i < r->rec->npkgs; i++)
			if (r->rec->pkgs[i].state == RUN_P_DELIVERED)
				(void)run_exec_outcome(r, i, RUN_P_SKIPPED, 0,
				    0, "not run: an earlier package failed and "
				    "the scenario stops on error", NULL);
		run_exec_conclude(r);
		return;
	}
	p = &r->rec->pkgs[i];
	r->rec->pkg_index = (uint16_t)i;
	run_pkgdir(r, i, dir, sizeof(dir));
	argv = exec_pkg_argv(dir, r->m[i].exec, &r->m[i].args, err,
	    sizeof(err));
	if (argv == NULL) {
		run_exec_refuse(r, i, err);
		return;
	}
	/*
	 * Anti-rollback: another run may have raised the package's mark
	 * since this one was accepted.  A refusal fails this package only.
	 */
	if ((ok = run_exec_mark_ok(r, i, err, sizeof(err))) != 1) {
		exec_free_argv(argv);
		run_exec_refuse(r, i, err);
		return;
	}
	/*
	 * Stored before it starts, with its mark raised in the same
	 * transaction: a restart must know it may have run, and nothing
	 * older may run after it.
	 */
	p->state = RUN_P_RUNNING;
	if (run_exec_store_running(r, i, err, sizeof(err)) == -1) {
		p->state = RUN_P_DELIVERED;
		exec_free_argv(argv);
		r->ctx->finish(r, CTL_RS_FAILED, 0, "%s: not started: "
		    "state_dir: %s", p->id, err);
		return;
	}
	envp = exec_env(dir, r->rec->run_id, p->id);
	memset(&spec, 0, sizeof(spec));
	spec.path = argv[0];
	spec.argv = argv;
	spec.envp = envp;
	spec.cwd = dir;
	spec.timeout = r->agent->exec_timeout;
	log_info("run %" PRIu64 ": package %s: running %s with %zu "
	    "parameter%s", r->rec->run_id, p->id, r->m[i].exec,
	    r->m[i].args.n, r->m[i].args.n == 1 ? "" : "s");
	run_report(r, CTL_RS_RUNNING, (uint16_t)i, 0, 0, 0, NULL, NULL);
	/*
	 * M4: an agent package is installed, not run: upgrade.c swaps the
	 * binary and has the agent execute it; the new agent's start
	 * records the outcome on this run.
	 */
	if (upgrade_is_agent(&r->m[i])) {
		exec_free_argv(argv);
		exec_free_argv(envp);
		if (upgrade_begin(r->agent->upgrade, r->rec->run_id, i, dir,
		    &r->m[i], err, sizeof(err)) == -1)
			run_exec_refuse(r, i, err);
		return;
	}
	r->job = exec_start(&spec, run_exec_done, r, err, sizeof(err));
	exec_free_argv(argv);
	exec_free_argv(envp);
	if (r->job == NULL) {
		run_exec_refuse(r, i, err);
	}
}

/* A package ended (RUN_EV_EXECUTED in RUNNING). */
void
run_exec_ended(struct run *r, const struct exec_result *res)
{
	size_t	 i = r->rec->pkg_index;
	char	 how[256], *out;
	int	 ok;

	exec_describe(res, r->agent->exec_timeout, how, sizeof(how));
	ok = res->how == EXEC_EXITED && res->exit_status == 0;
	out = exec_tail_text(res);
	if (run_exec_outcome(r, i, ok ? RUN_P_SUCCEEDED : RUN_P_FAILED,
	    res->how == EXEC_EXITED, res->how == EXEC_EXITED ?
	    res->exit_status : 0, ok ? "" : how, out) == -1) {
		r->ctx->finish(r, CTL_RS_FAILED, 0, "%s: %s, but the outcome "
		    "could not be stored", r->rec->pkgs[i].id, how);
		free(out);
		return;
	}
	free(out);
	run_exec_next(r);
}
