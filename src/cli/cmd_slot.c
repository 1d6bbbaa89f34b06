/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_slot.c - `slotbox acquire`, `release`, `exec`, `run` and `cancel`. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_proc.h"

#define MAX_ENV 256
#define MAX_STDIN ((size_t)64 << 20)

struct exec_opts {
	const char *profile, *trajectory_id; /* acquire, run */
	const char *snapshot;		     /* acquire, run */
	double acquire_timeout_s;	     /* run only */
	double ttl_s;			     /* acquire, renew; < 0: unset */
	bool keep_workspace;		     /* release only */
	struct sbc_bash bash;
	const char *env[MAX_ENV + 1];
	size_t n_env;
	bool send_stdin;
	bool tty;		/* -t: on a pseudo-terminal, as a process */
	const char *shell_line; /* -c */
	char *command;		/* owned: the bash command line */
	char *stdin_data;	/* owned */
};

enum {
	OPT_PROFILE = 0x100,
	OPT_TRAJ,
	OPT_TIMEOUT,
	OPT_ACQ_TIMEOUT,
	OPT_CWD,
	OPT_JSON,
	OPT_KEEP,
	OPT_TTL,
	OPT_SNAPSHOT,
	OPT_MERGE,
	OPT_ID,
};

static const struct option all_opts[] = {
	{"profile", required_argument, NULL, OPT_PROFILE},
	{"trajectory-id", required_argument, NULL, OPT_TRAJ},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"acquire-timeout", required_argument, NULL, OPT_ACQ_TIMEOUT},
	{"cwd", required_argument, NULL, OPT_CWD},
	{"env", required_argument, NULL, 'e'},
	{"stdin", no_argument, NULL, 'i'},
	{"tty", no_argument, NULL, 't'},
	{"json", no_argument, NULL, OPT_JSON},
	{"keep-workspace", no_argument, NULL, OPT_KEEP},
	{"ttl", required_argument, NULL, OPT_TTL},
	{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
	{"merge", no_argument, NULL, OPT_MERGE},
	{"id", required_argument, NULL, OPT_ID},
	{0},
};

/* Which options each command takes. */
static bool allowed(const char *cmd, int opt)
{
	bool acq = strcmp(cmd, "acquire") == 0, run = strcmp(cmd, "run") == 0;
	bool exec = strcmp(cmd, "exec") == 0;
	switch (opt) {
	case OPT_JSON:
		return true;
	case OPT_PROFILE:
	case OPT_TRAJ:
	case OPT_SNAPSHOT:
		return acq || run;
	case OPT_ACQ_TIMEOUT:
		return run;
	case OPT_TIMEOUT:
		return acq || run || exec;
	case OPT_KEEP:
		return strcmp(cmd, "release") == 0;
	case 't':
		return exec;
	case OPT_TTL:
		return acq || strcmp(cmd, "renew") == 0;
	default: /* -e -i -c --cwd --merge --id */
		return run || exec;
	}
}

static int parse_opts(struct cli *cli, int argc, char **argv,
		      struct exec_opts *o)
{
	const char *cmd = argv[0];
	int c;
	while ((c = getopt_long(argc, argv, "e:ic:t", all_opts, NULL)) != -1) {
		if (c == '?' || c == ':' || !allowed(cmd, c))
			return cli_usage_error("bad option for %s", cmd);
		switch (c) {
		case OPT_PROFILE:
			o->profile = optarg;
			break;
		case OPT_TRAJ:
			o->trajectory_id = optarg;
			break;
		case OPT_SNAPSHOT:
			o->snapshot = optarg;
			break;
		case OPT_TIMEOUT:
		case OPT_ACQ_TIMEOUT:
			if (!cli_seconds(optarg,
					 c == OPT_TIMEOUT
						 ? &o->bash.timeout_s
						 : &o->acquire_timeout_s))
				return cli_usage_error("bad number of seconds "
						       "'%s'",
						       optarg);
			break;
		case OPT_CWD:
			o->bash.cwd = optarg;
			break;
		case 'e':
			if (o->n_env == MAX_ENV || !strchr(optarg, '=') ||
			    optarg[0] == '=')
				return cli_usage_error(
					"-e takes KEY=VALUE (at most %d)",
					MAX_ENV);
			o->env[o->n_env++] = optarg;
			break;
		case 'i':
			o->send_stdin = true;
			break;
		case 't':
			o->tty = true;
			break;
		case 'c':
			o->shell_line = optarg;
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case OPT_KEEP:
			o->keep_workspace = true;
			break;
		case OPT_MERGE:
			o->bash.merge_output = true;
			break;
		case OPT_ID:
			o->bash.execution_id = optarg;
			break;
		case OPT_TTL:
			if (!cli_seconds(optarg, &o->ttl_s))
				return cli_usage_error("bad number of seconds "
						       "'%s'",
						       optarg);
			break;
		default:
			return cli_usage_error("bad option for %s", cmd);
		}
	}
	if (o->snapshot && o->profile)
		return cli_usage_error("--snapshot implies the snapshot's "
				       "profile: no --profile with it");
	return 0;
}

/* Characters that need no quoting in a bash word. */
static bool plain_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			    "YZ"
			    "0123456789_-./=:,+@%",
			    *s))
			return false;
	return true;
}

/* argv as one bash command line that runs exactly those words. */
static char *quote_argv(int argc, char **argv)
{
	size_t len = 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) * 4 + 3;
	char *out = malloc(len), *o = out;
	if (!out)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (i)
			*o++ = ' ';
		if (plain_word(argv[i])) {
			o = stpcpy(o, argv[i]);
			continue;
		}
		*o++ = '\'';
		for (const char *s = argv[i]; *s; s++) {
			if (*s == '\'')
				o = stpcpy(o, "'\\''");
			else
				*o++ = *s;
		}
		*o++ = '\'';
	}
	*o = '\0';
	return out;
}

static char *read_all_stdin(void)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);
	while (buf) {
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n <= 0) {
			if (n < 0) {
				perror("slotbox: reading stdin");
				break;
			}
			buf[len] = '\0';
			if (strlen(buf) != len) {
				fputs("slotbox: stdin holds NUL bytes; only "
				      "text can be sent\n",
				      stderr);
				break;
			}
			return buf;
		}
		len += (size_t)n;
		if (len == cap) {
			char *b = cap < MAX_STDIN ? realloc(buf, cap * 2 + 1)
						  : NULL;
			if (!b)
				fputs("slotbox: stdin is too large (64 MiB at "
				      "most)\n",
				      stderr);
			else
				cap *= 2;
			if (!b)
				break;
			buf = b;
		}
	}
	free(buf);
	return NULL;
}

/* The command from -c or the words after SLOT/--, plus stdin. */
static int prepare_command(struct exec_opts *o, int argc, char **argv)
{
	if (o->shell_line && argc > 0)
		return cli_usage_error("give -c LINE or -- CMD..., not both");
	if (!o->shell_line && argc == 0)
		return cli_usage_error("a command is needed after --");
	o->command =
		o->shell_line ? strdup(o->shell_line) : quote_argv(argc, argv);
	if (!o->command) {
		fputs("slotbox: out of memory\n", stderr);
		return CLI_FAILED;
	}
	o->bash.command = o->command;
	o->env[o->n_env] = NULL;
	o->bash.env = o->env;
	if (o->send_stdin && !o->tty) {
		o->stdin_data = read_all_stdin();
		if (!o->stdin_data)
			return CLI_FAILED;
		o->bash.stdin_data = o->stdin_data;
	}
	return 0;
}

static void exec_opts_free(struct exec_opts *o)
{
	free(o->command);
	free(o->stdin_data);
}

/* Show a result the way the command would have, and pick the exit code. */
static int report_result(const struct cli *cli, const struct sbc_exec_result *r)
{
	if (cli->json) {
		cli_print_json(r->raw);
	} else {
		fwrite(r->out, 1, r->out_len, stdout);
		fflush(stdout);
		fwrite(r->err, 1, r->err_len, stderr);
	}
	if (strcmp(r->error_class, "infra") == 0) {
		fprintf(stderr, "slotbox: the sandbox failed: %s\n", r->error);
		return CLI_FAILED;
	}
	if (r->timed_out) {
		fprintf(stderr, "slotbox: command timed out\n");
		return CLI_TIMED_OUT;
	}
	if (strcmp(r->error_class, "cancelled") == 0) {
		fprintf(stderr, "slotbox: the call was cancelled\n");
		return 130;
	}
	if (r->truncated)
		fprintf(stderr, "slotbox: output was truncated\n");
	if (r->returncode < 0)
		return 128 + (-r->returncode & 127);
	return r->returncode & 255;
}

static int run_in_slot(struct cli *cli, struct sbc *c, const char *slot_id,
		       const struct exec_opts *o)
{
	struct sbc_exec_result r;
	struct sbc_error err = {0};
	if (sbc_bash(c, slot_id, &o->bash, &r, &err) < 0)
		return strcmp(err.code, "interrupted") == 0
			       ? 130
			       : cli_fail("exec", &err);
	int rc = report_result(cli, &r);
	sbc_exec_result_free(&r);
	return rc;
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
	struct exec_opts o = {0};
	int rc = parse_opts(cli, argc, argv, &o);
	if (rc)
		return rc;
	if (optind >= argc)
		return cli_usage_error("exec needs a SLOT");
	const char *slot = argv[optind++];
	if (o.tty && (o.bash.timeout_s > 0 || o.bash.merge_output ||
		      o.bash.execution_id))
		return cli_usage_error("exec -t takes no --timeout, --merge "
				       "or --id (it runs as a process)");
	rc = prepare_command(&o, argc - optind, argv + optind);
	if (rc == 0 && o.tty) {
		struct cli_tty_exec x = {.command = o.command,
					 .cwd = o.bash.cwd,
					 .env = o.env,
					 .forward_stdin = o.send_stdin};
		rc = cli_exec_tty(cli, slot, &x);
	} else if (rc == 0) {
		struct sbc *c = cli_slot_client(cli, slot);
		rc = c ? run_in_slot(cli, c, slot, &o) : CLI_FAILED;
	}
	exec_opts_free(&o);
	return rc;
}

int cmd_acquire(struct cli *cli, int argc, char **argv)
{
	struct exec_opts o = {0};
	int rc = parse_opts(cli, argc, argv, &o);
	if (rc)
		return rc;
	if (optind != argc)
		return cli_usage_error("acquire takes no arguments");
	struct sbc_slot s;
	rc = cli_acquire(cli, o.profile, o.snapshot, o.trajectory_id,
			 o.bash.timeout_s, o.ttl_s, &s);
	if (rc)
		return rc;
	if (s.endpoint) /* several nodes: say which holds it */
		json_object_set_new(s.raw, "endpoint", json_string(s.endpoint));
	if (cli->json)
		cli_print_json(s.raw);
	else
		printf("%s\n", s.slot_id);
	sbc_slot_free(&s);
	return 0;
}

int cmd_release(struct cli *cli, int argc, char **argv)
{
	struct exec_opts o = {0};
	int rc = parse_opts(cli, argc, argv, &o);
	if (rc)
		return rc;
	if (optind + 1 != argc)
		return cli_usage_error("release takes one SLOT");
	struct sbc *c = cli_slot_client(cli, argv[optind]);
	if (!c)
		return CLI_FAILED;
	struct sbc_error err = {0};
	if (sbc_release(c, argv[optind], !o.keep_workspace, &err) < 0)
		return cli_fail("release", &err);
	if (cli->json) {
		json_t *doc = json_pack("{s:s, s:b}", "slot_id", argv[optind],
					"released", 1);
		cli_print_json(doc);
		json_decref(doc);
	}
	return 0;
}

int cmd_renew(struct cli *cli, int argc, char **argv)
{
	struct exec_opts o = {.ttl_s = -1};
	int rc = parse_opts(cli, argc, argv, &o);
	if (rc)
		return rc;
	if (optind + 1 != argc)
		return cli_usage_error("renew takes one SLOT");
	struct sbc *c = cli_slot_client(cli, argv[optind]);
	if (!c)
		return CLI_FAILED;
	struct sbc_error err = {0};
	if (sbc_renew(c, argv[optind], o.ttl_s, &err) < 0)
		return cli_fail("renew", &err);
	return 0;
}

/* slotbox cancel EXECUTION_ID: kill a running call's tree (its exec
 * then ends with "the call was cancelled"). */
int cmd_cancel(struct cli *cli, int argc, char **argv)
{
	if (cli_json_only(cli, argc, argv) < 0)
		return CLI_USAGE;
	if (optind + 1 != argc)
		return cli_usage_error("cancel takes one EXECUTION_ID");
	struct sbc *c = cli_client(cli);
	if (!c)
		return CLI_FAILED;
	struct sbc_error err = {0};
	if (sbc_cancel(c, argv[optind], &err) < 0)
		return cli_fail("cancel", &err);
	return 0;
}

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* While run holds a lease, a signal ends the call instead of the process,
 * so the lease is still given back. */
static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct exec_opts o = {0};
	int rc = parse_opts(cli, argc, argv, &o);
	if (rc == 0)
		rc = prepare_command(&o, argc - optind, argv + optind);
	catch_signals();
	cli->opt.cancel = &interrupted;
	struct sbc_slot s;
	if (rc == 0)
		rc = cli_acquire(cli, o.profile, o.snapshot, o.trajectory_id,
				 o.acquire_timeout_s, 0, &s);
	if (rc) {
		exec_opts_free(&o);
		return interrupted ? 130 : rc;
	}
	rc = run_in_slot(cli, cli->c, s.slot_id, &o);
	/* Release on a fresh connection: an interrupted one is mid-answer. */
	cli_disconnect(cli);
	interrupted = 0;
	struct sbc_error err = {0};
	struct sbc *c = cli_slot_client(cli, s.slot_id);
	if (c && sbc_release(c, s.slot_id, true, &err) < 0)
		cli_fail("release", &err);
	sbc_slot_free(&s);
	exec_opts_free(&o);
	return rc;
}
