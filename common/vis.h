/*
 * Making a peer's words safe to log and to store: an agent's
 * report message and output, a receiver's error text.  Control characters
 * and bytes that are not well-formed UTF-8 become visible escapes, so that
 * a hostile peer can neither forge log lines (a newline), nor drive the
 * admin's terminal (ESC, C1 controls), nor store bytes that break a JSON
 * reader.
 */
#ifndef FC_VIS_H
#define FC_VIS_H

#include <stddef.h>

#define VIS_KEEP_NL	0x01	/* keep \n and \t (a program's output) */

/* The longest an escaped byte gets ("\xHH"). */
#define VIS_MAX_GROWTH	4

size_t	 vis_str(char *, size_t, const char *, int);
char	*vis_strdup(const char *, int);

#endif
