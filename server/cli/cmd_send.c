/*
 * fleetcast send / fleetcast receive: the standalone multicast transport,
 * like udp-sender / udp-receiver but encrypted with a pre-shared key and
 * verified end to end.  Both run the engine (common/xsend.c, xrecv.c) on
 * one event_base, show live progress on a terminal and print a summary,
 * as text or as JSON.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "psk.h"
#include "udp.h"
#include "xmalloc.h"
#include "xrecv.h"
#include "xsend.h"

/*
 * The largest file `fleetcast receive` takes from a sender it knows
 * nothing about, whatever the free space: beyond this a typo in a
 * sender's file name is likelier than a real transfer.
 */
#define RECV_MAX_SIZE	(4ULL << 40)

struct opts {
	const char	*file;
	const char	*group;
	const char	*iface;
	const char	*psk;
	const char	*out;
	const char	*rate;
	const char	*sha256;	/* receive: the file's, hex */
	int		 min_receivers;
	int		 max_receivers;
	int		 max_wait;
	int		 json;
};

static const char send_usage[] =
    "usage: fleetcast send FILE --group ADDR:PORT [--interface IF]\n"
    "           [--min-receivers N] [--max-wait SECONDS] [--rate RATE]\n"
    "           [--max-receivers N] --psk FILE [--json]\n"
    "\n"
    "  --group ADDR:PORT     multicast group (IPv4, or [IPv6]:PORT)\n"
    "  --interface IF        send on this interface (its MTU sets the packet size)\n"
    "  --min-receivers N     start when N receivers are ready...\n"
    "  --max-wait SECONDS    ...or when this long has passed since the start,\n"
    "                        whichever comes first; neither: start at once\n"
    "  --max-receivers N     take at most N receivers, first come (default 1024);\n"
    "                        one that failed or went silent frees its place\n"
    "  --rate RATE           ceiling in bits per second, e.g. 500M, 2.5G, 800mbit\n"
    "                        (k/M/G/T = 10^3/10^6/10^9/10^12, either case), or\n"
    "                        'auto' (default):\n"
    "                        the rate adapts to the receivers below the ceiling\n"
    "  --psk FILE            32-byte key, 64 hex characters, not readable by every\n"
    "                        user (fleetcast key generate-psk writes one, mode 0600)\n"
    "  --json                print a JSON summary on stdout\n"
    "\nReceivers answer to UDP port PORT+1 of this host: a firewall must let it in.\n"
    "Exit 0 only when every receiver that joined confirmed the whole file.\n"
    "FLEETCAST_NO_GSO=1 in the environment disables UDP segmentation offload.\n";

static const char recv_usage[] =
    "usage: fleetcast receive --group ADDR:PORT [--interface IF] --out FILE\n"
    "           --psk FILE [--sha256 HEX] [--json]\n"
    "\n"
    "  --group ADDR:PORT     multicast group to join\n"
    "  --interface IF        join on this interface\n"
    "  --out FILE            where the verified file goes; FILE.fcpart and\n"
    "                        FILE.fcstate hold a partial transfer, which a\n"
    "                        restarted receiver resumes\n"
    "  --psk FILE            the sender's 32-byte key file (not readable by every user)\n"
    "  --sha256 HEX          the file's SHA-256 (64 hex digits, as sha256sum prints\n"
    "                        it): a sender with another file is refused, and a\n"
    "                        partial transfer also resumes from a new sender (a\n"
    "                        restarted one), which then skips what is on disk\n"
    "  --json                print a JSON summary on stdout\n"
    "\nExit 0 only when FILE is complete and its SHA-256 verified.\n"
    "FLEETCAST_NO_GRO=1 in the environment disables UDP receive offload;\n"
    "FLEETCAST_SENDER_TIMEOUT_MS sets how long a silent sender is waited for\n"
    "(default 15000).\n";

/*
 * The key of --psk, read by psk_read (exactly 64 hex digits, and a file
 * that not every local user can read); errors name the flag.
 */
_Static_assert(PSK_LEN == AEAD_KEY_LEN, "a PSK is the transport's key");

static int
read_psk(const char *path, uint8_t key[PSK_LEN], char *err, size_t errlen)
{
	char	why[384];

	if (psk_read(path, key, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "--psk: %s", why);
		return (-1);
	}
	return (0);
}

static int
parse_int(const char *s, int min, int max, int *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return (-1);
	*out = (int)v;
	return (0);
}

/* Options common to both commands; returns EXIT_OK or EXIT_USAGE. */
static int
parse_opts(const char *cmd, int argc, char **argv, struct opts *o, int send)
{
	const char	*name, *val;
	char		 flag[64];
	int		 i;

	memset(o, 0, sizeof(*o));
	o->max_wait = -1;
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0) {
			if (send && o->file == NULL) {
				o->file = argv[i];
				continue;
			}
			return (cli_usage_error(cmd, "unexpected argument '%s'",
			    argv[i]));
		}
		name = argv[i];
		val = NULL;
		if ((val = strchr(name, '=')) != NULL) {
			snprintf(flag, sizeof(flag), "%.*s",
			    (int)(val - name), name);
			name = flag;
			val++;
		}
		if (strcmp(name, "--json") == 0) {
			if (val != NULL)
				return (cli_usage_error(cmd, "--json: takes no "
				    "value"));
			o->json = 1;
			continue;
		}
		if (val == NULL) {
			if (i + 1 >= argc)
				return (cli_usage_error(cmd, "%s: needs a "
				    "value", name));
			val = argv[++i];
		}
		if (strcmp(name, "--group") == 0)
			o->group = val;
		else if (strcmp(name, "--interface") == 0)
			o->iface = val;
		else if (strcmp(name, "--psk") == 0)
			o->psk = val;
		else if (!send && strcmp(name, "--out") == 0)
			o->out = val;
		else if (!send && strcmp(name, "--sha256") == 0)
			o->sha256 = val;
		else if (send && strcmp(name, "--rate") == 0)
			o->rate = val;
		else if (send && strcmp(name, "--min-receivers") == 0) {
			if (parse_int(val, 1, 100000, &o->min_receivers) == -1)
				return (cli_usage_error(cmd, "--min-receivers:"
				    " '%s': a whole number from 1 to 100000",
				    val));
		} else if (send && strcmp(name, "--max-receivers") == 0) {
			if (parse_int(val, 1, 100000, &o->max_receivers) == -1)
				return (cli_usage_error(cmd, "--max-receivers:"
				    " '%s': a whole number from 1 to 100000",
				    val));
		} else if (send && strcmp(name, "--max-wait") == 0) {
			if (parse_int(val, 0, 86400 * 7, &o->max_wait) == -1)
				return (cli_usage_error(cmd, "--max-wait: "
				    "'%s': whole seconds from 0 to 604800",
				    val));
		} else
			return (cli_usage_error(cmd, "unknown option '%s'",
			    name));
	}
	if (send && o->file == NULL)
		return (cli_usage_error(cmd, "FILE: missing"));
	if (o->group == NULL)
		return (cli_usage_error(cmd, "--group: missing (ADDR:PORT)"));
	if (o->psk == NULL)
		return (cli_usage_error(cmd, "--psk: missing"));
	if (!send && o->out == NULL)
		return (cli_usage_error(cmd, "--out: missing"));
	return (EXIT_OK);
}

/* Group and interface checks shared by both commands. */
static int
setup_group(const char *cmd, const struct opts *o, struct udp_addr *group,
    unsigned *ifindex, int *mtu)
{
	char	err[256];

	if (udp_parse(o->group, group, 0, err, sizeof(err)) == -1)
		return (cli_usage_error(cmd, "--group: %s", err));
	if (!udp_is_multicast(group))
		return (cli_usage_error(cmd, "--group: '%s' is not a multicast "
		    "address (224.0.0.0/4 or ff00::/8)", o->group));
	*ifindex = 0;
	*mtu = 0;
	if (o->iface != NULL) {
		if ((*ifindex = udp_ifindex(o->iface)) == 0)
			return (cli_usage_error(cmd, "--interface: '%s': no "
			    "such interface", o->iface));
		*mtu = udp_if_mtu(o->iface);
		if (*mtu > 9000)
			*mtu = 9000;	/* loopback: keep datagrams sane */
	}
	return (EXIT_OK);
}

static json_t *
drops_json(const uint64_t *drops)
{
	json_t	*j = json_object();
	int	 i;

	for (i = 0; i < PROTO_DROP_MAX; i++)
		json_object_set_new(j, proto_drop_name(i),
		    json_integer((json_int_t)drops[i]));
	return (j);
}

/* A JSON summary's count: a number of bytes, packets or the like. */
static void
set_count(json_t *j, const char *key, uint64_t n)
{
	json_object_set_new(j, key, json_integer((json_int_t)n));
}

static void
print_summary(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(j);
}

/* With -v, the drops by reason. */
static void
drops_log(const uint64_t *drops)
{
	char	buf[512];
	size_t	off = 0;
	int	i;

	if (log_getverbose() < 1)
		return;
	buf[0] = '\0';
	for (i = 0; i < PROTO_DROP_MAX; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, " %s=%"
		    PRIu64, proto_drop_name(i), drops[i]);
	log_info("dropped:%s", buf);
}

static double
mib(uint64_t b)
{
	return ((double)b / (1024.0 * 1024.0));
}

/* The event loop either command runs the engine on. */
static struct event_base *
loop_new(void)
{
	struct event_base	*base;

	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	return (base);
}

/*
 * Run the loop until the engine is finished, SIGINT and SIGTERM calling
 * stop(arg) so that it ends cleanly; then end the progress line (tty).
 */
static void
loop_run(struct event_base *base, event_callback_fn stop, void *arg, int tty)
{
	struct event	*sigint, *sigterm;

	sigint = evsignal_new(base, SIGINT, stop, arg);
	sigterm = evsignal_new(base, SIGTERM, stop, arg);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	event_base_dispatch(base);
	event_free(sigint);
	event_free(sigterm);
	if (tty)
		fprintf(stderr, "\n");
}

/* The sender side. */
struct send_ctx {
	struct event_base	*base;
	struct xsend		*xs;
	int			 tty;
	int			 finished;
	int			 ok;
};

static void
send_progress(void *arg, const struct xsend_stats *st)
{
	struct send_ctx	*c = arg;
	uint64_t	 past;

	if (!c->tty)
		return;
	/* Blocks every receiver held already count as passed. */
	past = st->first_pass_bytes + st->skipped_bytes;
	fprintf(stderr, "\r%5.1f%% %8.1f of %.1f MiB  %7.1f MiB/s  "
	    "rate %.0f Mbit/s  %d receiver(s), %d done   ",
	    st->size ? 100.0 * (double)past / (double)st->size : 100.0,
	    mib(past), mib(st->size), st->elapsed > 0 ?
	    mib(st->first_pass_bytes) / st->elapsed : 0.0,
	    st->rate * 8 / 1e6, st->receivers, st->done);
}

static void
send_peer_done(void *arg, const struct xsend_peer_info *pi)
{
	struct send_ctx	*c = arg;

	if (c->tty)
		fprintf(stderr, "\n");
	if (pi->state != XSP_DONE)
		log_warnx("receiver %s %s: %s", pi->addr,
		    xsend_strpstate(pi->state), pi->error ? pi->error : "");
}

static void
send_finished(void *arg, int ok)
{
	struct send_ctx	*c = arg;

	c->finished = 1;
	c->ok = ok;
	event_base_loopexit(c->base, NULL);
}

static void
send_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct send_ctx	*c = arg;

	log_warnx("interrupted");
	xsend_stop(c->xs);
}

static int
cmd_send(int argc, char **argv)
{
	struct opts		 o;
	struct xsend_conf	 conf;
	struct xsend_cb		 cb;
	struct send_ctx		 c;
	struct xsend_stats	 st;
	struct xsend_peer_info	 pi;
	struct stat		 sb;
	char			 err[512];
	json_t			*j, *arr;
	double			 secs;
	int			 rv, i, n;

	if (cli_wants_help(argc, argv)) {
		fputs(send_usage, stdout);
		return (EXIT_OK);
	}
	if ((rv = parse_opts("send", argc, argv, &o, 1)) != EXIT_OK)
		return (rv);
	memset(&conf, 0, sizeof(conf));
	if ((rv = setup_group("send", &o, &conf.group, &conf.ifindex,
	    &conf.mtu)) != EXIT_OK)
		return (rv);
	if (o.rate != NULL &&
	    parse_rate(o.rate, &conf.rate_max, err, sizeof(err)) == -1)
		return (cli_usage_error("send", "--rate: %s", err));
	if (read_psk(o.psk, conf.key, err, sizeof(err)) == -1)
		return (cli_usage_error("send", "%s", err));
	if (stat(o.file, &sb) == -1 || access(o.file, R_OK) == -1)
		return (cli_usage_error("send", "FILE: %s: %s", o.file,
		    strerror(errno)));
	if (!S_ISREG(sb.st_mode))
		return (cli_usage_error("send", "FILE: %s: not a regular file",
		    o.file));
	if (sb.st_size == 0)
		return (cli_usage_error("send", "FILE: %s: empty, nothing to "
		    "send", o.file));
	conf.path = o.file;
	conf.min_receivers = o.min_receivers;
	conf.max_receivers = o.max_receivers;
	conf.max_wait_ms = o.max_wait >= 0 ? o.max_wait * 1000 : -1;

	memset(&c, 0, sizeof(c));
	c.tty = isatty(STDERR_FILENO) && !o.json;
	c.base = loop_new();
	memset(&cb, 0, sizeof(cb));
	cb.progress = send_progress;
	cb.peer_done = send_peer_done;
	cb.peer_dropped = send_peer_done;
	cb.finished = send_finished;
	c.xs = xsend_new(c.base, &conf, &cb, &c, err, sizeof(err));
	explicit_bzero(conf.key, sizeof(conf.key));
	if (c.xs == NULL) {
		log_warnx("send: %s", err);
		event_base_free(c.base);
		return (EXIT_FAIL);
	}
	log_debug("send: session %016" PRIx64, xsend_session(c.xs));
	xsend_start(c.xs);
	loop_run(c.base, send_signal, &c, c.tty);

	xsend_stats(c.xs, &st);
	n = xsend_npeers(c.xs);
	secs = st.elapsed > 0 ? st.elapsed : st.total;
	if (o.json) {
		j = json_object();
		arr = json_array();
		json_object_set_new(j, "role", json_string("sender"));
		snprintf(err, sizeof(err), "%016" PRIx64,
		    xsend_session(c.xs));
		json_object_set_new(j, "session", json_string(err));
		json_object_set_new(j, "port", json_integer(
		    xsend_port(c.xs)));
		json_object_set_new(j, "ok", json_boolean(c.ok));
		set_count(j, "bytes", st.size);
		json_object_set_new(j, "wall_seconds", json_real(st.total));
		json_object_set_new(j, "wait_seconds", json_real(st.waited));
		json_object_set_new(j, "transfer_seconds",
		    json_real(st.elapsed));
		json_object_set_new(j, "mib_per_s", json_real(secs > 0 ?
		    mib(st.size) / secs : 0));
		set_count(j, "packets", st.packets);
		set_count(j, "data_packets", st.data_packets);
		set_count(j, "skipped_bytes", st.skipped_bytes);
		set_count(j, "repair_packets", st.repair_packets);
		set_count(j, "resent_packets", st.resend_packets);
		json_object_set_new(j, "retransmission_pct", json_real(
		    st.data_packets ? 100.0 * (double)(st.repair_packets +
		    st.resend_packets) / (double)st.data_packets : 0));
		set_count(j, "wire_bytes", st.wire_bytes);
		set_count(j, "syscalls", st.syscalls);
		json_object_set_new(j, "gso", json_boolean(st.gso));
		json_object_set_new(j, "final_rate_bps", json_real(st.rate *
		    8));
		json_object_set_new(j, "drops", drops_json(st.drops));
		for (i = 0; i < n; i++) {
			json_t	*p = json_object();

			xsend_peer(c.xs, i, &pi);
			json_object_set_new(p, "address", json_string(pi.addr));
			json_object_set_new(p, "result", json_string(
			    xsend_strpstate(pi.state)));
			set_count(p, "bytes", pi.bytes);
			set_count(p, "retransmissions", pi.repairs);
			json_object_set_new(p, "error", pi.error ?
			    json_string(pi.error) : json_null());
			json_array_append_new(arr, p);
		}
		json_object_set_new(j, "receivers", arr);
		print_summary(j);
	} else {
		for (i = 0; i < n; i++) {
			xsend_peer(c.xs, i, &pi);
			printf("%s %s %" PRIu64 " bytes %" PRIu64
			    " retransmissions%s%s\n", pi.addr,
			    xsend_strpstate(pi.state), pi.bytes, pi.repairs,
			    pi.error ? ": " : "", pi.error ? pi.error : "");
		}
		if (n == 0)
			printf("no receiver joined\n");
		printf("sent %.1f MiB in %.2f s (%.1f MiB/s), %.2f%% "
		    "retransmitted\n", mib(st.size), secs, secs > 0 ?
		    mib(st.size) / secs : 0, st.data_packets ? 100.0 *
		    (double)(st.repair_packets + st.resend_packets) /
		    (double)st.data_packets : 0);
	}
	drops_log(st.drops);
	xsend_free(c.xs);
	event_base_free(c.base);
	return (c.ok ? EXIT_OK : EXIT_FAIL);
}

/*
 * What a sender may offer: the free space in the directory of --out plus
 * what a partial file of an earlier run holds (it is reused), at most
 * RECV_MAX_SIZE.  The receiver fails cleanly, naming both numbers, on a
 * larger offer instead of filling the disk or its memory.
 */
static uint64_t
recv_max_size(const char *dir, const char *out)
{
	struct statvfs	 vfs;
	struct stat	 st;
	char		*part;
	uint64_t	 room = RECV_MAX_SIZE;

	if (statvfs(dir, &vfs) == 0)
		room = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	xasprintf(&part, "%s.fcpart", out);
	if (stat(part, &st) == 0 && S_ISREG(st.st_mode))
		room += (uint64_t)st.st_blocks * 512;
	free(part);
	if (room > RECV_MAX_SIZE)
		room = RECV_MAX_SIZE;
	return (room > 0 ? room : 1);
}

/* The receiver side. */
struct recv_ctx {
	struct event_base	*base;
	struct xrecv		*xr;
	int			 tty;
	int			 ok;
	char			 err[256];
};

static void
recv_progress(void *arg, const struct xrecv_stats *st)
{
	struct recv_ctx	*c = arg;

	if (!c->tty)
		return;
	fprintf(stderr, "\r%5.1f%% %8.1f of %.1f MiB  %7.1f MiB/s  "
	    "%" PRIu64 " repaired   ", st->size ? 100.0 *
	    (double)st->have_bytes / (double)st->size : 0, mib(st->have_bytes),
	    mib(st->size), st->elapsed > 0 ? mib(st->received_bytes) /
	    st->elapsed : 0.0, st->repairs + st->decoded);
}

static void
recv_finished(void *arg, int ok, const char *err)
{
	struct recv_ctx	*c = arg;

	c->ok = ok;
	if (err != NULL)
		snprintf(c->err, sizeof(c->err), "%s", err);
	event_base_loopexit(c->base, NULL);
}

static void
recv_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct recv_ctx	*c = arg;

	xrecv_stop(c->xr);
}

static int
cmd_receive(int argc, char **argv)
{
	struct opts		 o;
	struct xrecv_conf	 conf;
	struct xrecv_cb		 cb;
	struct recv_ctx		 c;
	struct xrecv_stats	 st;
	char			 err[512];
	json_t			*j;
	double			 secs;
	int			 rv, mtu;
	const char		*s;

	if (cli_wants_help(argc, argv)) {
		fputs(recv_usage, stdout);
		return (EXIT_OK);
	}
	if ((rv = parse_opts("receive", argc, argv, &o, 0)) != EXIT_OK)
		return (rv);
	memset(&conf, 0, sizeof(conf));
	if ((rv = setup_group("receive", &o, &conf.group, &conf.ifindex,
	    &mtu)) != EXIT_OK)
		return (rv);
	if (read_psk(o.psk, conf.key, err, sizeof(err)) == -1)
		return (cli_usage_error("receive", "%s", err));
	if (o.sha256 != NULL) {
		if (hex_decode(o.sha256, conf.expect_sha256,
		    sizeof(conf.expect_sha256)) == -1)
			return (cli_usage_error("receive", "--sha256: '%s': "
			    "64 hex digits", o.sha256));
		conf.expect_digest = 1;
	}
	conf.out = o.out;
	{
		/* Catch an unusable --out before joining anything. */
		char	*dir = xstrdup(o.out), *slash = strrchr(dir, '/');

		if (slash == dir)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		rv = access(slash != NULL ? dir : ".", W_OK | X_OK);
		if (rv == -1) {
			rv = cli_usage_error("receive", "--out: %s: directory "
			    "%s: %s", o.out, slash != NULL ? dir : ".",
			    strerror(errno));
			free(dir);
			return (rv);
		}
		conf.max_size = recv_max_size(slash != NULL ? dir : ".",
		    o.out);
		free(dir);
	}
	if ((s = getenv("FLEETCAST_SENDER_TIMEOUT_MS")) != NULL)
		conf.sender_timeout_ms = atoi(s);

	memset(&c, 0, sizeof(c));
	c.tty = isatty(STDERR_FILENO) && !o.json;
	c.base = loop_new();
	memset(&cb, 0, sizeof(cb));
	cb.progress = recv_progress;
	cb.finished = recv_finished;
	c.xr = xrecv_new(c.base, &conf, &cb, &c, err, sizeof(err));
	explicit_bzero(conf.key, sizeof(conf.key));
	if (c.xr == NULL) {
		log_warnx("receive: %s", err);
		event_base_free(c.base);
		return (EXIT_FAIL);
	}
	xrecv_start(c.xr);
	loop_run(c.base, recv_signal, &c, c.tty);

	xrecv_stats(c.xr, &st);
	secs = st.elapsed > 0 ? st.elapsed : st.total;
	if (o.json) {
		j = json_object();
		json_object_set_new(j, "role", json_string("receiver"));
		snprintf(err, sizeof(err), "%016" PRIx64, st.session);
		json_object_set_new(j, "session", json_string(err));
		json_object_set_new(j, "ok", json_boolean(c.ok));
		json_object_set_new(j, "result", json_string(c.ok ? "ok" :
		    "failed"));
		json_object_set_new(j, "sender", st.sender.len != 0 ?
		    json_string(udp_ntop(&st.sender, err, sizeof(err))) :
		    json_null());
		json_object_set_new(j, "error", c.ok ? json_null() :
		    json_string(c.err));
		set_count(j, "bytes", st.size);
		set_count(j, "have_bytes", st.have_bytes);
		set_count(j, "received_bytes", st.received_bytes);
		set_count(j, "resumed_bytes", st.resumed_bytes);
		json_object_set_new(j, "wall_seconds", json_real(st.total));
		json_object_set_new(j, "transfer_seconds",
		    json_real(st.elapsed));
		json_object_set_new(j, "mib_per_s", json_real(secs > 0 ?
		    mib(st.received_bytes) / secs : 0));
		set_count(j, "packets", st.packets);
		set_count(j, "repair_packets", st.repairs);
		set_count(j, "decoded_symbols", st.decoded);
		set_count(j, "duplicates", st.duplicates);
		json_object_set_new(j, "retransmission_pct", json_real(
		    st.packets ? 100.0 * (double)st.repairs /
		    (double)st.packets : 0));
		set_count(j, "naks", st.naks);
		set_count(j, "reports", st.reports);
		json_object_set_new(j, "gro", json_boolean(st.gro));
		json_object_set_new(j, "datagrams_per_read", json_real(
		    st.reads ? (double)st.datagrams / (double)st.reads : 0));
		json_object_set_new(j, "drops", drops_json(st.drops));
		print_summary(j);
	} else if (c.ok)
		printf("received %.1f MiB in %.2f s (%.1f MiB/s), SHA-256 "
		    "verified, %s\n", mib(st.size), secs, secs > 0 ?
		    mib(st.received_bytes) / secs : 0, o.out);
	if (!c.ok)
		log_warnx("receive: %s", c.err);
	drops_log(st.drops);
	xrecv_free(c.xr);
	event_base_free(c.base);
	return (c.ok ? EXIT_OK : EXIT_FAIL);
}

const struct cli_entry cmd_send_entries[] = {
	{ "send", NULL, cmd_send,
	    "send a file to a multicast group (standalone)", NULL, NULL },
	{ "receive", NULL, cmd_receive,
	    "receive a file from a multicast group (standalone)", NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
