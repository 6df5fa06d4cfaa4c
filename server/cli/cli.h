/*
 * The admin CLI, `fleetcast`.  Each top-level command lives in its own
 * cmd_<name>.c and exports cmd_<name>(argc, argv) with argv[0] the command
 * name; it returns the process exit status.
 */
#ifndef FC_CLI_H
#define FC_CLI_H

#define EXIT_OK		0	/* success */
#define EXIT_FAIL	1	/* the operation failed */
#define EXIT_USAGE	2	/* bad usage or invalid input */

int	cmd_key(int, char **);
int	cmd_package(int, char **);
int	cmd_send(int, char **);
int	cmd_receive(int, char **);
int	cmd_sim(int, char **);
int	cmd_bench(int, char **);
int	cmd_machine(int, char **);
int	cmd_scenario(int, char **);
int	cmd_run(int, char **);
/* package add/list/show/remove go to the server: cmd_inventory.c */
int	cmd_package_server(int, char **);

int	cli_usage_error(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	cli_fail(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	cli_getopt_error(const char *, int, char **);
int	cli_wants_help(int, char **);
const char *cli_server_conf(void);

extern const char *cli_api_url;

#endif
