/*
 * Logging for the three programs.  A daemon logs to its log_file (set with
 * log_file() before log_init) or to syslog, and to stderr on a host
 * without syslog; in the foreground (-d) or from the CLI everything goes
 * to stderr.  log_warn adds
 * strerror(errno); fatal and fatalx exit and are kept for start-up, out of
 * memory and broken invariants only: bad network input is never fatal.
 */
#ifndef FC_LOG_H
#define FC_LOG_H

#include <stdarg.h>

#define LOG_TO_STDERR	0x01
#define LOG_TO_SYSLOG	0x02
#define LOG_TO_FILE	0x04

void	log_init(const char *, int, int);
int	log_file(const char *, char *, size_t);
int	log_needs_stderr(void);
void	log_setverbose(int);
int	log_getverbose(void);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	vlog(int, const char *, va_list) __attribute__((format(printf, 2, 0)));
_Noreturn void fatal(const char *, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
