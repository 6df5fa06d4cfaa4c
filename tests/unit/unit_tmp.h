/*
 * A scratch directory for a unit test program: made under $TMPDIR (else
 * /tmp) with a name that says which test left it, paths inside it, and its
 * removal.  Tests that need a fresh one per test call unit_tmpdir() again:
 * the previous directory goes first.
 */
#ifndef FC_UNIT_TMP_H
#define FC_UNIT_TMP_H

#include <stdio.h>
#include <stdlib.h>

#include "pkg.h"

static char	unit_dir[256];

/* Remove the scratch directory, if any; -1 if some of it stayed. */
static inline int
unit_tmpdir_remove(void)
{
	int	rv = 0;

	if (unit_dir[0] != '\0')
		rv = pkg_remove_tree(unit_dir);
	unit_dir[0] = '\0';
	return (rv);
}

/* A new, empty unit_dir named NAME.XXXXXX; -1 (said on stderr) if not. */
static inline int
unit_tmpdir(const char *name)
{
	const char	*tmp = getenv("TMPDIR");

	(void)unit_tmpdir_remove();
	snprintf(unit_dir, sizeof(unit_dir), "%s/%s.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp", name);
	if (mkdtemp(unit_dir) == NULL) {
		perror(unit_dir);
		unit_dir[0] = '\0';
		return (-1);
	}
	return (0);
}

/* REL inside unit_dir; four results may be in use at once. */
static inline char *
unit_path(const char *rel)
{
	static char	buf[4][4096];
	static int	n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", unit_dir, rel);
	return (buf[n]);
}

#endif
