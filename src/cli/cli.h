/* SPDX-License-Identifier: Apache-2.0 */
/* cli.h - the `slotbox` command line: shared state and the commands. */
#ifndef SLOTBOX_CLI_H
#define SLOTBOX_CLI_H

#include <stdbool.h>

#include "client/slotbox_cluster.h"

/* Exit codes besides the command's own (which exec and run pass on). */
enum {
	CLI_USAGE = 2,	     /* bad command line */
	CLI_TIMED_OUT = 124, /* the command hit its deadline (as timeout(1)) */
	CLI_FAILED = 125,    /* slotbox itself failed (as docker) */
};

struct cli {
	struct sbc_options opt;
	bool json;
	const char *command;  /* for messages */
	struct sbc *c;	      /* connected on first use */
	char *node;	      /* several nodes: the one c is connected to */
	struct sbcc *cluster; /* several nodes (--url A,B,...): on first use */
};

/* The daemon, connected on first use; prints the error and returns NULL
 * on failure. With several nodes, only for commands on one node: the
 * error says so. */
struct sbc *cli_client(struct cli *cli);
/* The daemon that holds slot_id: with several nodes, found by asking
 * them. Prints the error and returns NULL on failure. */
struct sbc *cli_slot_client(struct cli *cli, const char *slot_id);
/* --url names several nodes. */
bool cli_is_cluster(const struct cli *cli);
/* Those nodes as one struct sbcc (opened on first use), or NULL after
 * printing why. */
struct sbcc *cli_cluster(struct cli *cli);
/* Lease a slot (from snapshot when not NULL, else of profile): with
 * several nodes on the one with the most room, which cli->c is then
 * connected to (s->endpoint names it). 0, or the exit status after
 * printing the error (130 when interrupted). */
int cli_acquire(struct cli *cli, const char *profile, const char *snapshot,
		const char *trajectory_id, double timeout_s, double ttl_s,
		struct sbc_slot *s);
/* Close the connection (the next use connects afresh). */
void cli_disconnect(struct cli *cli);

/* Print "slotbox: <what>: <message>" and return CLI_FAILED. */
int cli_fail(const char *what, const struct sbc_error *err);
/* Print a usage error and return CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse a non-negative number of seconds; false on junk. */
bool cli_seconds(const char *s, double *out);
/* Parse a command's options when --json is its only one (optind is left
 * at the first argument); -1 after printing a usage error. */
int cli_json_only(struct cli *cli, int argc, char **argv);
/* Print a JSON document on stdout. */
void cli_print_json(json_t *doc);

int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_profiles(struct cli *cli, int argc, char **argv);
int cmd_acquire(struct cli *cli, int argc, char **argv);
int cmd_release(struct cli *cli, int argc, char **argv);
int cmd_renew(struct cli *cli, int argc, char **argv);
int cmd_top(struct cli *cli, int argc, char **argv);
int cmd_image(struct cli *cli, int argc, char **argv);
int cmd_exec(struct cli *cli, int argc, char **argv);
int cmd_cancel(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_cp(struct cli *cli, int argc, char **argv);
int cmd_fork(struct cli *cli, int argc, char **argv);
int cmd_snapshot(struct cli *cli, int argc, char **argv);
int cmd_snapshots(struct cli *cli, int argc, char **argv);
int cmd_attach(struct cli *cli, int argc, char **argv);
int cmd_ps(struct cli *cli, int argc, char **argv);
int cmd_kill(struct cli *cli, int argc, char **argv);

#endif
