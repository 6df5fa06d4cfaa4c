/*
 * Allocation wrappers that never return NULL: running out of memory is one
 * of the few conditions on which the programs stop (fatalx).
 */
#ifndef FC_XMALLOC_H
#define FC_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 freezero(void *, size_t);

#endif
