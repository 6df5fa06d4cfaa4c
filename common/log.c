/*
 * Logging to stderr, syslog or a file.  Messages are formatted once into a
 * bounded buffer; a line that does not fit is cut rather than allocated, so
 * logging works even when memory has run out.  A daemon logs to its
 * log_file when it has one, else to syslog; on a host without syslog
 * (/dev/log missing) it keeps logging to stderr and says so, rather than
 * losing every line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_SYSLOG_SOCKET	"/dev/log"

static int	 log_dest = LOG_TO_STDERR;
static int	 log_verbose;
static const char *log_name = "fleetcast";
static FILE	*log_fp;

void
log_init(const char *name, int foreground, int verbose)
{
	log_name = name;
	log_verbose = verbose;
	if (foreground)
		log_dest = LOG_TO_STDERR;
	else if (log_fp != NULL)
		/* Also stderr: until daemon() it shows start-up errors. */
		log_dest = LOG_TO_FILE | LOG_TO_STDERR;
	else if (access(LOG_SYSLOG_SOCKET, W_OK) == -1) {
		log_dest = LOG_TO_STDERR;
		log_warnx("no syslog here (%s: %s): logging to standard "
		    "error; set log_file to keep a log", LOG_SYSLOG_SOCKET,
		    strerror(errno));
	} else {
		log_dest = LOG_TO_SYSLOG;
		openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
}

int
log_file(const char *path, char *err, size_t errlen)
{
	int	fd;
	FILE	*fp;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1 || (fp = fdopen(fd, "a")) == NULL) {
		snprintf(err, errlen, "log_file: %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if (log_fp != NULL)
		fclose(log_fp);
	log_fp = fp;
	return (0);
}

int
log_needs_stderr(void)
{
	return (log_fp == NULL && access(LOG_SYSLOG_SOCKET, W_OK) == -1);
}

/* One line of the log file: UTC time, program[pid]: text. */
static void
log_to_file(const char *text)
{
	struct timespec	ts;
	struct tm	tm;
	char		when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(log_fp, "%s.%03ldZ %s[%ld]: %s\n", when, ts.tv_nsec / 1000000,
	    log_name, (long)getpid(), text);
	fflush(log_fp);
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return (log_verbose);
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	buf[2048];

	if (pri == LOG_DEBUG && log_verbose < 1)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_dest & LOG_TO_FILE)
		log_to_file(buf);
	if (log_dest & LOG_TO_SYSLOG)
		syslog(pri, "%s", buf);
	if (log_dest & LOG_TO_STDERR)
		fprintf(stderr, "%s: %s\n", log_name, buf);
}

static void
vlog_errno(int pri, int saved, const char *fmt, va_list ap)
{
	char	buf[2048];
	size_t	len;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	snprintf(buf + len, sizeof(buf) - len, ": %s", strerror(saved));
	if (log_dest & LOG_TO_FILE)
		log_to_file(buf);
	if (log_dest & LOG_TO_SYSLOG)
		syslog(pri, "%s", buf);
	if (log_dest & LOG_TO_STDERR)
		fprintf(stderr, "%s: %s\n", log_name, buf);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
