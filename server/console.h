/*
 * The web console's private interface: console.c serves the static files
 * of server/console/ on api_listen, from $(pkgdatadir)/console when
 * installed there, else from the copy compiled into the binary
 * (console_files.c, written at build time by console_embed.sh).
 */
#ifndef FC_CONSOLE_H
#define FC_CONSOLE_H

#include <stddef.h>

struct evhttp_request;
struct console;

/* One file compiled in; the list ends with a NULL name. */
struct console_file {
	const char		*name;
	const unsigned char	*data;
	size_t			 len;
};

extern const struct console_file console_files[];

struct console	*console_new(const char *);
void		 console_free(struct console *);
int		 console_serve(struct console *, struct evhttp_request *,
		    const char *);
void		 console_secure(struct evhttp_request *);

#endif
