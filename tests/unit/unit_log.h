/*
 * What a program under test logs, captured for the unit tests that check
 * it (test_run, test_agent_conn): unit_log_capture() sends stderr, where
 * common/log.c writes outside a daemon, to an unlinked scratch file with
 * debug lines on; unit_log_reset() empties it, unit_log_has() looks for a
 * line or part of one.  Header-only, like unit.h.
 */
#ifndef FC_UNIT_LOG_H
#define FC_UNIT_LOG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

static int	unit_logfd = -1;

/* From now on stderr goes to the capture file; -1 (perror) if not. */
static inline int
unit_log_capture(const char *name)
{
	const char	*tmp = getenv("TMPDIR");
	char		 path[300];

	snprintf(path, sizeof(path), "%s/%s.log.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp", name);
	if ((unit_logfd = mkstemp(path)) == -1) {
		perror(path);
		return (-1);
	}
	(void)unlink(path);
	fflush(stderr);
	if (dup2(unit_logfd, STDERR_FILENO) == -1) {
		perror("dup2");
		return (-1);
	}
	log_setverbose(1);
	return (0);
}

static inline void
unit_log_reset(void)
{
	fflush(stderr);
	CU_ASSERT_FATAL(ftruncate(unit_logfd, 0) == 0);
	CU_ASSERT_FATAL(lseek(unit_logfd, 0, SEEK_SET) == 0);
}

/* What was logged since the last reset (a static buffer). */
static inline const char *
unit_log_text(void)
{
	static char	buf[1 << 16];
	ssize_t		n;

	fflush(stderr);
	n = pread(unit_logfd, buf, sizeof(buf) - 1, 0);
	CU_ASSERT_FATAL(n >= 0);
	buf[n] = '\0';
	return (buf);
}

static inline int
unit_log_has(const char *s)
{
	return (strstr(unit_log_text(), s) != NULL);
}

/* The log so far on stdout, for the test's .log file. */
static inline void
unit_log_dump(void)
{
	printf("\n---- what was logged ----\n%s----\n", unit_log_text());
}

#endif
