/*
 * The admin CLI, `fleetcast`.  Each top-level command lives in its own
 * cmd_<name>.c and exports the entries of the command table (fleetcast.c)
 * that run it: its own, and one per subcommand that goes to the server.
 * A command's function gets argv[0] the command name and returns the
 * process exit status.
 */
#ifndef FC_CLI_H
#define FC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define EXIT_OK		0	/* success */
#define EXIT_FAIL	1	/* the operation failed */
#define EXIT_USAGE	2	/* bad usage or invalid input */

/* A subcommand that is one request to the API (http_one(), http.c). */
struct http_one {
	const char	*method;
	const char	*path;	/* a list's, or what comes before NAME */
	const char	*suffix;	/* after NAME */
	const char	*done;	/* "NAME done"; NULL: the answer */
	void		(*rows)(json_t *);	/* a list's table */
};

/*
 * One entry of the command table, as tmux's cmd_entry.  A command's own
 * entry (sub NULL) has the line `fleetcast --help' shows for it, the
 * function that runs what no subcommand entry takes (NULL: the command is
 * nothing but its subcommands) and what --help adds after the usage lines
 * of its subcommands.  A subcommand's entry has the function, or the
 * request, that runs it and the usage that follows "fleetcast NAME SUB ";
 * the command's usage is made of these lines, so it cannot list a
 * subcommand that does not run.  Each cmd_<name>.c exports its entries as
 * one array that ends with an entry without a name.
 */
struct cli_entry {
	const char	*name;
	const char	*sub;
	int		(*fn)(int, char **);
	const char	*usage;	/* own entry: what the command does */
	void		(*help)(FILE *);
	const struct http_one *one;
};

extern const struct cli_entry cmd_key_entries[];
extern const struct cli_entry cmd_package_entries[];
extern const struct cli_entry cmd_feed_entries[];
extern const struct cli_entry cmd_agentpkg_entries[];
extern const struct cli_entry cmd_machine_entries[];
extern const struct cli_entry cmd_server_entries[];
extern const struct cli_entry cmd_scenario_entries[];
extern const struct cli_entry cmd_run_entries[];
extern const struct cli_entry cmd_send_entries[];	/* send, receive */
extern const struct cli_entry cmd_sim_entries[];
extern const struct cli_entry cmd_bench_entries[];

/* cmd_run.c: scenario run --wait follows the run it started. */
int	 cmd_run_follow(uint64_t, FILE *);

/* cli.c: what every command uses. */
int	 cli_usage_error(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 cli_fail(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 cli_getopt_error(const char *, int, char **);
int	 cli_wants_help(int, char **);
/* Where cli_server_conf() looks after $FLEETCAST_SERVER_CONF. */
#define CLI_SERVER_CONF		FC_SYSCONFDIR "/fleetcast/fleetcastd.conf"
#define CLI_SERVER_CONF_ETC	"/etc/fleetcast/fleetcastd.conf"
const char *cli_server_conf(void);
long long cli_duration(const char *, long long, long long);

extern const char *cli_api_url;
extern const char *cli_api_ca;	/* --ca FILE (http_tls.c) */

/* http_tls.c: TLS on http.c's connection for an https:// API. */
struct http_tls;
struct http_tls	*http_tls_open(int, const char *, int, char *, size_t);
int		 http_tls_write(struct http_tls *, const void *, size_t, int);
ssize_t		 http_tls_read(struct http_tls *, void *, size_t, int);
void		 http_tls_close(struct http_tls *);
int		 http_tls_poll(int, short, int);

/* http.c: fleetcastd's API, and the subcommands that are one request. */
#define HTTP_TIMEOUT_MS		30000

struct http_res {
	int	 status;
	char	*body;
	size_t	 len;
	json_t	*json;
};

int	 http_request(const char *, const char *, const char *, const void *,
	    size_t, int, int, struct http_res *, char *, size_t);
void	 http_res_free(struct http_res *);
int	 http_result(const char *, int, const char *, struct http_res *);
int	 http_call_wait(const char *, const char *, const char *, json_t *,
	    int, struct http_res *);
int	 http_call(const char *, const char *, const char *, json_t *,
	    struct http_res *);
int	 http_is_local(void);
char	*http_path(const char *, const char *, const char *);
int	 http_call_on(const char *, const char *, const char *, const char *,
	    const char *, json_t *, struct http_res *);
int	 http_json_arg(int, char **, int, const char *, const char **);
int	 http_one(const struct http_one *, const char *, int, char **);

/* show.c: the API's answers on stdout. */
void	 show_json(json_t *);
const char *show_str(json_t *, const char *);
void	 show_val(json_t *, const char *, char *, size_t);
void	 show_bytes(uint64_t, char *, size_t);
void	 show_object(json_t *);

#endif
