/*
 * Agent packages (MISSION.md M4): the signed package that carries a
 * fleetcast-agent binary, built by `fleetcast package build-agent'.  Its
 * id names the agent version it ships, so that the server (which agents
 * are older), the CLI (building it) and the agent (never downgrade) read
 * the version from the same signed field: "fleetcast-agent-" followed by
 * the version with each '.' written as '_' (a package id has no dots),
 * and its executable is the binary, AGENTPKG_EXEC.
 */
#ifndef FC_AGENTPKG_H
#define FC_AGENTPKG_H

#include <stddef.h>

#define AGENTPKG_PREFIX		"fleetcast-agent-"
#define AGENTPKG_EXEC		"fleetcast-agent"
#define AGENTPKG_VERSION_MAX	46	/* 63 - strlen(AGENTPKG_PREFIX) */
#define AGENTPKG_BIN_MAX	(512ULL * 1024 * 1024)	/* one binary */

int	 agentpkg_id(const char *, char *, size_t, char *, size_t);
int	 agentpkg_version(const char *, char *, size_t);
int	 agentpkg_newer(const char *, const char *);
int	 agentpkg_copy(const char *, const char *, int, char *, size_t);

#endif
