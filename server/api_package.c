/*
 * Adding a package (POST /v1/packages), once api.c has checked what it can
 * at once: the path is a regular file, the size is within the limits and
 * the disk has room.  The copy and its verification read the whole file,
 * which may be gigabytes, so they run in a child process while the event
 * loop goes on serving agents, senders and other requests; the request
 * stays pending until the child's result arrives on a pipe, and the
 * package is registered, on the loop, only from the copy the child
 * verified.  The answer goes back to api.c through api_package_cb, since
 * api.c is the one that calls in here.
 */
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "api_int.h"
#include "fsutil.h"
#include "log.h"
#include "pkg.h"
#include "server.h"
#include "wire.h"
#include "xmalloc.h"

#define API_COPY_CHUNK		(1024 * 1024)
#define API_ADD_RESULT_MAX	1280	/* the child's result, bytes */
#define API_ADD_TMP		"upload.fcpkg"	/* + .tmp.PID.N */

/* A package add whose copy is being checked by a child process. */
struct api_package_add {
	struct api_package	*ap;
	struct evhttp_request	*r;		/* answered when done */
	struct atomic_file	 af;		/* the copy */
	pid_t			 pid;
	int			 fd;		/* the result pipe */
	struct event		*ev;		/* reading it, then reaping */
	uint8_t			 res[API_ADD_RESULT_MAX];
	size_t			 reslen;
	int			 overflow;
	TAILQ_ENTRY(api_package_add) entry;
};
TAILQ_HEAD(api_package_list, api_package_add);

/* The package adds in flight, and whom to tell when one is done. */
struct api_package {
	struct server		*srv;
	struct api_package_cb	 cb;
	void			*arg;
	struct api_package_list	 adds;
	size_t			 nadds;
};

/*
 * In a child: close every descriptor but 0-2 and those in keep, a range
 * at a time, from each kept one up to the next one above it.
 */
static void
api_package_close_others(const int *keep, size_t n)
{
	unsigned int	lo = 3, next;
	size_t		i;

	for (;;) {
		next = ~0U;
		for (i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (unsigned int)keep[i] < next)
				next = (unsigned int)keep[i];
		if (next == ~0U)
			break;
		if (next > lo)
			close_range(lo, next - 1, 0);
		lo = next + 1;
	}
	close_range(lo, ~0U, 0);
}

/*
 * The child: copy src (or the request body) into the temp file while
 * hashing it, sync it, verify the copy (signature, size, payload hash)
 * and write the result to wfd: u16 status (0, or the HTTP status of the
 * failure), u64 size, the SHA-256 of the file, u16 length and the error.
 */
static void __attribute__((noreturn))
api_package_child(struct api_package_add *a, int src, struct evbuffer *in,
    int wfd, const uint8_t (*keys)[ED25519_PUB_LEN], size_t nkeys)
{
	struct sha256	*h;
	struct pkg	*p = NULL;
	struct wire_w	 w;
	uint8_t		 res[API_ADD_RESULT_MAX], sha[SHA256_LEN], *buf;
	char		 err[1024] = "";
	int		 keep[3] = { a->af.fd, src, wfd };
	uint16_t	 status = 0;
	uint64_t	 size = 0;
	ssize_t		 n;

	/* The parent's signal events are not ours; SIGTERM just ends us. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	api_package_close_others(keep, 3);
	/* The loop matters more than how soon a package is in. */
	(void)setpriority(PRIO_PROCESS, 0, 10);
	buf = xmalloc(API_COPY_CHUNK);
	h = sha256_new();
	for (;;) {
		if (src != -1)
			n = read(src, buf, API_COPY_CHUNK);
		else
			n = evbuffer_remove(in, buf, API_COPY_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, sizeof(err), "reading the package: %s",
			    strerror(errno));
			status = 422;
			break;
		}
		if (n == 0)
			break;
		/* A file that grows while it is read is held to the cap. */
		if (size + (uint64_t)n > API_MAX_PACKAGE) {
			snprintf(err, sizeof(err), "package: more than %llu "
			    "bytes, limit %llu", API_MAX_PACKAGE,
			    API_MAX_PACKAGE);
			status = 413;
			break;
		}
		sha256_update(h, buf, (size_t)n);
		if (write_all(a->af.fd, buf, (size_t)n) == -1) {
			snprintf(err, sizeof(err), "writing the package copy "
			    "in state_dir: %s", strerror(errno));
			status = errno == ENOSPC || errno == EDQUOT ? 507 : 500;
			break;
		}
		size += (uint64_t)n;
	}
	sha256_final(h, sha);
	sha256_free(h);
	free(buf);
	if (status == 0 && fdatasync(a->af.fd) == -1) {
		snprintf(err, sizeof(err), "writing the package copy in "
		    "state_dir: %s", strerror(errno));
		status = errno == ENOSPC || errno == EDQUOT ? 507 : 500;
	}
	/* Our own copy is what is verified: no time-of-check gap. */
	if (status == 0 && pkg_open(&p, a->af.tmp, keys, nkeys, 0, err,
	    sizeof(err)) != 0)
		status = 422;
	pkg_close(p);
	/* A refused copy goes here, where its removal costs nobody. */
	if (status != 0)
		(void)unlink(a->af.tmp);
	wire_w_fixed(&w, res, sizeof(res));
	wire_put_u16(&w, status);
	wire_put_u64(&w, size);
	wire_put_bytes(&w, sha, SHA256_LEN);
	wire_put_u16(&w, (uint16_t)strlen(err));
	wire_put_bytes(&w, err, strlen(err));
	(void)write_all(wfd, res, w.len);
	_exit(0);
}

/*
 * Remove a package file without stalling the loop: unlinking a file of
 * gigabytes keeps the file system busy for most of a second.  A grandchild
 * does it and init reaps it; the child between exits at once, so waiting
 * for it costs nothing.
 */
void
api_package_unlink(const char *path)
{
	pid_t	pid;
	int	st;

	switch (pid = fork()) {
	case -1:
		(void)unlink(path);
		return;
	case 0:
		if (fork() == 0) {
			close_range(3, ~0U, 0);
			(void)unlink(path);
		}
		_exit(0);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
}

static void
api_package_add_free(struct api_package_add *a)
{
	TAILQ_REMOVE(&a->ap->adds, a, entry);
	a->ap->nadds--;
	if (a->ev != NULL)
		event_free(a->ev);
	if (a->fd != -1)
		close(a->fd);
	/* The copy, unless it was registered or the child removed it. */
	if (a->af.fd != -1)
		close(a->af.fd);
	if (a->af.tmp != NULL)
		api_package_unlink(a->af.tmp);
	free(a->af.tmp);
	free(a->af.path);
	free(a);
}

static int
api_package_version_cmp(uint16_t ama, uint16_t ami, uint16_t bma, uint16_t bmi)
{
	if (ama != bma)
		return (ama < bma ? -1 : 1);
	if (ami != bmi)
		return (ami < bmi ? -1 : 1);
	return (0);
}

/*
 * Register the copy the child verified; 0, or -1 with status and err.
 * Everything here is small: the manifest, the database, a rename.
 */
static int
api_package_register(struct api_package_add *a, uint64_t size,
    const uint8_t *sha, json_t **out, int *status, char *err, size_t errlen)
{
	struct server		*srv = a->ap->srv;
	struct db_package_rec	 rec;
	struct pkg		*p = NULL;
	const struct pkg_manifest *m;
	struct stat		 st;
	char			 rel[256], dst[4096], hex[65];
	char			 kid[KEYID_LEN * 2 + 1], *oldfile = NULL, *mjson;
	json_t			*mj;
	size_t			 mlen, nauto;
	int			 exists, hv, rv = -1;
	uint16_t		 ma, mi;
	uint64_t		 run;
	const uint8_t		*mraw;

	*status = 500;
	if ((a->af.fd = open(a->af.tmp, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(a->af.fd, &st) == -1 || (uint64_t)st.st_size != size) {
		snprintf(err, errlen, "the package copy changed after it was "
		    "verified");
		return (-1);
	}
	/* Verified by the child: only the manifest is read here. */
	if (pkg_open(&p, a->af.tmp, NULL, 0, PKG_OPEN_NOVERIFY, err,
	    errlen) != 0)
		return (-1);
	m = pkg_get_manifest(p);
	if (db_package_version(srv->db, m->id, &exists, &hv, &ma, &mi,
	    &oldfile) == -1) {
		snprintf(err, errlen, "database error");
		goto out;
	}
	if (exists) {
		*status = 409;
		if (!hv || !m->has_version) {
			snprintf(err, errlen, "package %s: already "
			    "registered (a package without major/minor version "
			    "cannot replace it; remove it first)", m->id);
			goto out;
		}
		if (api_package_version_cmp(m->major, m->minor, ma,
		    mi) <= 0) {
			snprintf(err, errlen, "package %s: version "
			    "%u.%u is %s the registered %u.%u; versions only "
			    "go up (anti-rollback)", m->id, m->major, m->minor,
			    api_package_version_cmp(m->major, m->minor, ma,
			    mi) == 0 ? "the same as" : "lower than", ma, mi);
			goto out;
		}
	}
	/* Named after the content: a replacement never overwrites in place. */
	*status = 500;
	hex_encode(sha, SHA256_LEN, hex);
	snprintf(rel, sizeof(rel), "packages/%s-%.16s.fcpkg", m->id, hex);
	snprintf(dst, sizeof(dst), "%s/%s", srv->state_dir, rel);
	free(a->af.path);
	a->af.path = xstrdup(dst);
	/* The data is synced already: this is the rename and its fsyncs. */
	if (atomic_commit(&a->af, err, errlen) == -1) {
		a->af.fd = -1;
		a->af.tmp = NULL;
		goto out;
	}
	a->af.fd = -1;
	a->af.tmp = NULL;
	mraw = pkg_get_manifest_raw(p, &mlen);
	mj = pkg_manifest_to_json(m);
	mjson = json_dumps(mj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(mj);
	hex_encode(m->key_id, KEYID_LEN, kid);
	memset(&rec, 0, sizeof(rec));
	rec.id = m->id;
	rec.type = pkg_field_type_name(m->type);
	rec.urgency = pkg_field_urgency_name(m->urgency);
	rec.has_version = m->has_version;
	rec.major = m->major;
	rec.minor = m->minor;
	rec.key_id = kid;
	rec.manifest = mraw;
	rec.manifest_len = mlen;
	rec.signature = pkg_get_signature(p);
	rec.manifest_json = mjson != NULL ? mjson : "{}";
	rec.file = rel;
	rec.size = size;
	rec.sha256 = sha;
	if (db_package_put(srv->db, &rec, server_now_ms()) == -1) {
		free(mjson);
		api_package_unlink(dst);
		snprintf(err, errlen, "database error");
		goto out;
	}
	free(mjson);
	db_event(srv->db, server_now_ms(), "package", 0, NULL, "package %s "
	    "added (%" PRIu64 " bytes)%s", m->id, size,
	    exists ? ", replacing a lower version" : "");
	log_info("api: package %s added (%" PRIu64 " bytes)", m->id, size);
	/* The old version's file goes only after the database moved on. */
	if (oldfile != NULL && strcmp(oldfile, rel) != 0) {
		snprintf(dst, sizeof(dst), "%s/%s", srv->state_dir, oldfile);
		api_package_unlink(dst);
	}
	*out = db_packages_json(srv->db, m->id);
	/* M4: a newer agent package goes to the older agents that are on. */
	agentup_package_added(srv->agentup, m->id);
	/*
	 * P5: a highest package goes at once to the machines that are on; the
	 * answer says which run that is, so the admin can follow it.
	 */
	if (m->urgency == PKG_URGENCY_HIGHEST) {
		run = auto_package_added(srv->autoupd, m->id, &nauto);
		if (*out != NULL)
			json_object_set_new(*out, "automatic_run", run != 0 ?
			    json_pack("{s:I, s:I}", "id", (json_int_t)run,
			    "machines", (json_int_t)nauto) : json_null());
	}
	rv = 0;
out:
	pkg_close(p);
	free(oldfile);
	return (rv);
}

/* The child has exited and its result is in: the request has its answer. */
static void
api_package_done(struct api_package_add *a, int wstatus)
{
	struct api_package	*ap = a->ap;
	struct wire_r		 r;
	uint8_t			 sha[SHA256_LEN];
	const uint8_t		*msg;
	char			 err[1024];
	uint64_t		 size;
	uint16_t		 status, mlen;
	json_t			*o = NULL;
	int			 code;

	wire_r_init(&r, a->res, a->reslen);
	if (a->overflow || wire_get_u16(&r, &status) == -1 ||
	    wire_get_u64(&r, &size) == -1 ||
	    wire_get_bytes(&r, sha, SHA256_LEN) == -1 ||
	    wire_get_u16(&r, &mlen) == -1 ||
	    wire_get_ptr(&r, &msg, mlen) == -1 || wire_r_left(&r) != 0 ||
	    (wstatus != -1 && (!WIFEXITED(wstatus) ||
	    WEXITSTATUS(wstatus) != 0))) {
		if (wstatus != -1 && WIFSIGNALED(wstatus))
			snprintf(err, sizeof(err), "package check: the "
			    "process ended by signal %d", WTERMSIG(wstatus));
		else
			snprintf(err, sizeof(err), "package check: the "
			    "process failed without a result");
		ap->cb.done(ap->arg, a->r, 500, NULL, err);
		goto out;
	}
	if (status != 0) {
		/* The child has removed the copy. */
		free(a->af.tmp);
		a->af.tmp = NULL;
		snprintf(err, sizeof(err), "%.*s", (int)mlen,
		    (const char *)msg);
		ap->cb.done(ap->arg, a->r, status, NULL, err);
		goto out;
	}
	if (api_package_register(a, size, sha, &o, &code, err,
	    sizeof(err)) == -1) {
		ap->cb.done(ap->arg, a->r, code, NULL, err);
		goto out;
	}
	ap->cb.done(ap->arg, a->r, 0, o, NULL);
out:
	api_package_add_free(a);
}

/* Reap the child once its result pipe is closed (it is exiting). */
static void
api_package_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_package_add	*a = arg;
	struct timeval		 tv = { 0, 10000 };
	pid_t			 pid;
	int			 st;

	while ((pid = waitpid(a->pid, &st, WNOHANG)) == -1 && errno == EINTR)
		;
	if (pid == 0) {
		/* Closed its end but not gone yet: look again shortly. */
		evtimer_add(a->ev, &tv);
		return;
	}
	api_package_done(a, pid == -1 ? -1 : st);
}

static void
api_package_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_package_add	*a = arg;
	uint8_t			 buf[512];
	ssize_t			 n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		if (a->reslen + (size_t)n > sizeof(a->res))
			a->overflow = 1;
		else {
			memcpy(a->res + a->reslen, buf, (size_t)n);
			a->reslen += (size_t)n;
		}
	}
	/* End of the result (or a read error): the child is done. */
	event_free(a->ev);
	close(a->fd);
	a->fd = -1;
	a->ev = evtimer_new(a->ap->srv->base, api_package_reap_cb, a);
	api_package_reap_cb(-1, 0, a);
}

/* Copies left behind by a server that was killed while checking them. */
static void
api_package_clean_tmp(const char *state_dir)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[4096];

	snprintf(path, sizeof(path), "%s/packages", state_dir);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, API_ADD_TMP ".tmp.",
		    strlen(API_ADD_TMP ".tmp.")) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/packages/%s", state_dir,
		    e->d_name);
		if (unlink(path) == 0)
			log_info("api: removed %s, left by an interrupted "
			    "package add", path);
	}
	closedir(d);
}

/*
 * Copy src (a descriptor, or -1 for the request body in) in a child and
 * verify the copy; r is answered through the callback when it is done.
 * 0, or -1 with err (an HTTP 500) and nothing left behind.
 */
int
api_package_start(struct api_package *ap, struct evhttp_request *r, int src,
    struct evbuffer *in, const char *path, uint64_t size,
    const uint8_t (*keys)[ED25519_PUB_LEN], size_t nkeys, char *err,
    size_t errlen)
{
	struct api_package_add	*a;
	char			 dst[4096];
	int			 pfd[2] = { -1, -1 }, rv = -1;

	a = xcalloc(1, sizeof(*a));
	a->ap = ap;
	a->r = r;
	a->fd = -1;
	a->af.fd = -1;
	TAILQ_INSERT_TAIL(&ap->adds, a, entry);
	ap->nadds++;
	snprintf(dst, sizeof(dst), "%s/packages/" API_ADD_TMP,
	    ap->srv->state_dir);
	if (atomic_open(&a->af, dst, 0600, err, errlen) == -1) {
		a->af.fd = -1;
		api_package_add_free(a);
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1 ||
	    fcntl(pfd[0], F_SETFL, O_NONBLOCK) == -1) {
		snprintf(err, errlen, "package add: pipe: %s",
		    strerror(errno));
		api_package_add_free(a);
		goto out;
	}
	switch (a->pid = fork()) {
	case -1:
		snprintf(err, errlen, "package add: fork: %s",
		    strerror(errno));
		api_package_add_free(a);
		goto out;
	case 0:
		api_package_child(a, src, in, pfd[1], keys, nkeys);
	}
	a->fd = pfd[0];
	pfd[0] = -1;
	/*
	 * Not ours to hold: should the copy be removed, the last close of
	 * it frees its blocks, which for gigabytes takes most of a second.
	 */
	close(a->af.fd);
	a->af.fd = -1;
	a->ev = event_new(ap->srv->base, a->fd, EV_READ | EV_PERSIST,
	    api_package_read_cb, a);
	event_add(a->ev, NULL);
	/* The child has its own copy of an uploaded body. */
	evbuffer_drain(in, evbuffer_get_length(in));
	log_info("api: checking a package (%" PRIu64 " bytes%s%s) in "
	    "process %ld", size, path != NULL ? " from " : ", uploaded",
	    path != NULL ? path : "", (long)a->pid);
	rv = 0;
out:
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	return (rv);
}

/* The package adds in flight: how many, for api.c's limit. */
size_t
api_package_count(struct api_package *ap)
{
	return (ap->nadds);
}

struct api_package *
api_package_new(struct server *srv, const struct api_package_cb *cb,
    void *arg)
{
	struct api_package	*ap;

	ap = xcalloc(1, sizeof(*ap));
	ap->srv = srv;
	ap->cb = *cb;
	ap->arg = arg;
	TAILQ_INIT(&ap->adds);
	api_package_clean_tmp(srv->state_dir);
	return (ap);
}

void
api_package_free(struct api_package *ap)
{
	struct api_package_add	*a;
	int			 i;

	if (ap == NULL)
		return;
	/*
	 * Package checks in flight are abandoned: their requests go with
	 * evhttp, their copies are removed.  A child stuck in the kernel
	 * (a hung file system) is not waited for long.
	 */
	while ((a = TAILQ_FIRST(&ap->adds)) != NULL) {
		kill(a->pid, SIGKILL);
		for (i = 0; i < 100 && waitpid(a->pid, NULL, WNOHANG) == 0;
		    i++)
			usleep(10000);
		api_package_add_free(a);
	}
	free(ap);
}
