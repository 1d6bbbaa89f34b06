/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - `slotbox`, the command line client of slotboxd.
 *
 * Global options come before the command, the command's own after it.
 * Exit codes: 0 on success; exec and run pass on the command's code (128+N
 * for a signal, 124 for a timeout); 125 when slotbox itself failed; 2 for
 * a bad command line. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/json_text.h"

#define TOKEN_MAX 4096

static const char usage_text[] =
	"usage: slotbox [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  status                     pools: sandboxes, free and leased slots\n"
	"  profiles                   the profiles the daemon serves\n"
	"  top [--interval S] [--once]\n"
	"                             the pools, refreshed in place\n"
	"  acquire [--profile P] [--trajectory-id T] [--timeout S] [--ttl S]\n"
	"          [--snapshot NAME]  lease a slot, print its id (--ttl: the\n"
	"                             lease ends after S s without a call;\n"
	"                             --snapshot: start from a snapshot)\n"
	"  renew [--ttl S] SLOT       keep a --ttl lease alive (--ttl 0: no "
	"expiry)\n"
	"  exec [OPTIONS] SLOT -- CMD [ARG]...\n"
	"  exec [OPTIONS] SLOT -c 'SHELL COMMAND LINE'\n"
	"                             run a command in a leased slot\n"
	"  exec -it SLOT -- CMD...    ...on a terminal: interactive (raw "
	"mode,\n"
	"                             window size, exit status passed on)\n"
	"  attach [--no-stdin] SLOT PROCESS_ID\n"
	"                             re-attach to a running process "
	"(Ctrl-]\n"
	"                             detaches)\n"
	"  ps SLOT                    the slot's background processes\n"
	"  kill [-s SIG] SLOT PROCESS_ID\n"
	"                             kill a process's tree (-s: send SIG)\n"
	"  cancel EXECUTION_ID        kill a running call (exec --id names "
	"one)\n"
	"  release [--keep-workspace] SLOT\n"
	"                             end a lease (workspace reset by "
	"default)\n"
	"  run [--profile P | --snapshot NAME] [EXEC OPTIONS] -- CMD [ARG]...\n"
	"                             acquire, exec and release in one\n"
	"  cp SRC DST                 copy a file; one side is SLOT:PATH,\n"
	"                             the other a local path or - (stdio)\n"
	"  image import NAME FILE     import an OCI layout (dir or tar) or a\n"
	"                             docker save tar into the image store\n"
	"  image ls | image rm NAME   list or remove store images\n"
	"  fork [-n N] [--trajectory-id T]... [--ttl S] SLOT\n"
	"                             N new slots (printed) whose workspaces\n"
	"                             start as a copy of SLOT's\n"
	"  snapshot SLOT NAME         save SLOT's workspace as NAME\n"
	"  snapshots [rm NAME...]     list snapshots, or delete some\n"
	"\n"
	"Exec options: --timeout S, --cwd DIR, -e KEY=VALUE (repeatable),\n"
	"  -i (send this program's stdin to the command), --merge (stdout\n"
	"  and stderr as one stream, in write order), --id ID (name the call\n"
	"  for cancel), -t (on a pseudo-terminal, as a background process;\n"
	"  with -i the local terminal is raw and keys go to it)\n"
	"\n"
	"Global options:\n"
	"  --socket PATH      daemon socket ($SLOTBOX_SOCKET, default "
	"/run/slotbox/slotbox.sock)\n"
	"  --url URL          http://HOST:PORT instead ($SLOTBOX_URL); "
	"several,\n"
	"                     comma-separated, for status (summed), "
	"acquire, run\n"
	"                     and the commands on a SLOT (each goes to its "
	"node)\n"
	"  --token-file FILE  bearer token for --url ($SLOTBOX_TOKEN_FILE)\n"
	"  --json             print the daemon's JSON answers (every command "
	"takes it)\n"
	"  --help, --version\n"
	"\n"
	"Exit status: the command's own for exec and run (128+N when killed "
	"by\n"
	"signal N, 124 on timeout); 125 when slotbox failed; 2 for bad "
	"usage.\n";

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("slotbox: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\n(see slotbox --help)\n", stderr);
	va_end(ap);
	return CLI_USAGE;
}

int cli_fail(const char *what, const struct sbc_error *err)
{
	if (err->http_status)
		fprintf(stderr, "slotbox: %s: %s (%s, HTTP %d)\n", what,
			err->message, err->code, err->http_status);
	else
		fprintf(stderr, "slotbox: %s: %s\n", what, err->message);
	return CLI_FAILED;
}

bool cli_seconds(const char *s, double *out)
{
	char *end = NULL;
	double v = strtod(s, &end);
	if (!*s || *end || !(v >= 0) || v > 1e7)
		return false;
	*out = v;
	return true;
}

int cli_json_only(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'j') {
			cli_usage_error("bad option for %s", argv[0]);
			return -1;
		}
		cli->json = true;
	}
	return 0;
}

void cli_print_json(json_t *doc)
{
	char *text = sb_json_dumps(doc, JSON_INDENT(2));
	if (text) {
		fputs(text, stdout);
		free(text);
	}
	fputc('\n', stdout);
}

bool cli_is_cluster(const struct cli *cli)
{
	return cli->opt.url && strchr(cli->opt.url, ',');
}

struct sbcc *cli_cluster(struct cli *cli)
{
	if (cli->cluster)
		return cli->cluster;
	struct sbcc_options o = {.endpoints = cli->opt.url,
				 .token = cli->opt.token,
				 .io_timeout_s = cli->opt.io_timeout_s,
				 .cancel = cli->opt.cancel};
	struct sbc_error err = {0};
	cli->cluster = sbcc_open(&o, &err);
	if (!cli->cluster)
		cli_fail("connect", &err);
	return cli->cluster;
}

void cli_disconnect(struct cli *cli)
{
	sbc_close(cli->c);
	cli->c = NULL;
}

/* Connect to one node of several (url as sbcc gives it). */
static struct sbc *connect_node(struct cli *cli, const char *url)
{
	if (cli->c && cli->node && strcmp(cli->node, url) == 0)
		return cli->c;
	cli_disconnect(cli);
	free(cli->node);
	cli->node = strdup(url);
	struct sbc_options o = cli->opt;
	o.url = strncmp(url, "http://", 7) == 0 ? url : NULL;
	o.socket_path = o.url ? NULL : url;
	struct sbc_error err = {0};
	cli->c = cli->node ? sbc_open(&o, &err) : NULL;
	if (!cli->c)
		cli_fail("connect", &err);
	return cli->c;
}

struct sbc *cli_client(struct cli *cli)
{
	if (cli->c)
		return cli->c;
	if (cli_is_cluster(cli)) {
		fprintf(stderr,
			"slotbox: %s works on one node: give --url one "
			"node, not several\n",
			cli->command ? cli->command : "this command");
		return NULL;
	}
	struct sbc_error err = {0};
	cli->c = sbc_open(&cli->opt, &err);
	if (!cli->c)
		cli_fail("connect", &err);
	return cli->c;
}

struct sbc *cli_slot_client(struct cli *cli, const char *slot_id)
{
	if (!cli_is_cluster(cli))
		return cli_client(cli);
	struct sbcc *cc = cli_cluster(cli);
	if (!cc)
		return NULL;
	struct sbc_error err = {0};
	const char *url = sbcc_slot_endpoint(cc, slot_id, &err);
	if (!url) {
		cli_fail(slot_id, &err);
		return NULL;
	}
	return connect_node(cli, url);
}

static int lease_on(struct cli *cli, const char *profile, const char *snapshot,
		    const char *trajectory_id, double timeout_s, double ttl_s,
		    struct sbc_slot *s, struct sbc_error *err)
{
	if (!cli_is_cluster(cli)) {
		struct sbc *c = cli_client(cli);
		if (!c)
			return CLI_FAILED;
		return snapshot ? sbc_acquire_snapshot(c, snapshot,
						       trajectory_id, timeout_s,
						       ttl_s, s, err)
				: sbc_acquire(c, profile, trajectory_id,
					      timeout_s, ttl_s, s, err);
	}
	struct sbcc *cc = cli_cluster(cli);
	if (!cc)
		return CLI_FAILED;
	int rc = snapshot ? sbcc_acquire_snapshot(cc, snapshot, trajectory_id,
						  timeout_s, ttl_s, s, err)
			  : sbcc_acquire(cc, profile, trajectory_id, timeout_s,
					 ttl_s, s, err);
	if (rc == 0 && !connect_node(cli, s->endpoint)) {
		/* leased, but its node is out of reach: give it back */
		(void)sbcc_release(cc, s->slot_id, true, NULL);
		sbc_slot_free(s);
		return CLI_FAILED;
	}
	return rc;
}

int cli_acquire(struct cli *cli, const char *profile, const char *snapshot,
		const char *trajectory_id, double timeout_s, double ttl_s,
		struct sbc_slot *s)
{
	memset(s, 0, sizeof *s);
	struct sbc_error err = {0};
	int rc = lease_on(cli, profile, snapshot, trajectory_id, timeout_s,
			  ttl_s, s, &err);
	if (rc != -1)
		return rc; /* 0, or reported */
	return strcmp(err.code, "interrupted") == 0 ? 130
						    : cli_fail("acquire", &err);
}

/* The first line of the token file, without surrounding blanks. */
static char *read_token(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "slotbox: token file %s: %m\n", path);
		return NULL;
	}
	char *buf = calloc(1, TOKEN_MAX + 1);
	if (buf && fread(buf, 1, TOKEN_MAX, f) == 0 && ferror(f)) {
		fprintf(stderr, "slotbox: token file %s: read error\n", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (!n) {
		fprintf(stderr, "slotbox: token file %s is empty\n", path);
		free(buf);
		return NULL;
	}
	return buf;
}

static const struct {
	const char *name;
	int (*run)(struct cli *, int, char **);
} commands[] = {
	{"status", cmd_status},	    {"profiles", cmd_profiles},
	{"acquire", cmd_acquire},   {"release", cmd_release},
	{"exec", cmd_exec},	    {"cancel", cmd_cancel},
	{"run", cmd_run},	    {"cp", cmd_cp},
	{"renew", cmd_renew},	    {"image", cmd_image},
	{"top", cmd_top},	    {"fork", cmd_fork},
	{"snapshot", cmd_snapshot}, {"snapshots", cmd_snapshots},
	{"attach", cmd_attach},	    {"ps", cmd_ps},
	{"kill", cmd_kill},
};

static int dispatch(struct cli *cli, int argc, char **argv)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[0], commands[i].name) == 0) {
			optind = 0; /* re-initialise getopt for the command */
			return commands[i].run(cli, argc, argv);
		}
	}
	return cli_usage_error("unknown command '%s'", argv[0]);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"url", required_argument, NULL, 'u'},
		{"token-file", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct cli cli = {0};
	const char *token_file = getenv("SLOTBOX_TOKEN_FILE");
	cli.opt.url = getenv("SLOTBOX_URL");
	if (cli.opt.url && !*cli.opt.url)
		cli.opt.url = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cli.opt.socket_path = optarg;
			cli.opt.url = NULL;
			break;
		case 'u':
			cli.opt.url = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'j':
			cli.json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("slotbox %s\n", SLOTBOX_VERSION);
			return 0;
		default:
			return cli_usage_error("bad global option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("a command is needed");
	char *token = NULL;
	if (cli.opt.url && token_file && *token_file) {
		token = read_token(token_file);
		if (!token)
			return CLI_FAILED;
		cli.opt.token = token;
	}
	cli.command = argv[optind];
	int rc = dispatch(&cli, argc - optind, argv + optind);
	sbc_close(cli.c);
	sbcc_close(cli.cluster);
	free(cli.node);
	free(token);
	fflush(stdout);
	return rc;
}
