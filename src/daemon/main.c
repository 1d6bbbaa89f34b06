/* SPDX-License-Identifier: Apache-2.0 */
/* slotboxd - the slotbox daemon. See README.md, docs/API.md and
 * docs/ARCHITECTURE.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "pool/snapshots.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: slotboxd [--socket PATH] [--state-dir DIR] [--config "
		"FILE]\n"
		"                [--listen tcp://HOST:PORT --token-file FILE "
		"[--public-health]]\n"
		"                [--log-format text|json] [--log-level LEVEL]\n"
		"                [--init PATH] [--cgroup MOUNT|none] "
		"[--secrets-dir DIR]\n"
		"                [--orphan-timeout S] [--keep-sandboxes]\n"
		"                [--header-timeout S] "
		"[--snapshot-store-max-bytes N]\n"
		"                [--egress-net A.B.0.0/16] "
		"[--slot-root auto|chroot|pivot_root]\n"
		"                [--version]\n"
		"\n"
		"Serves the slotbox HTTP API on a unix socket (default\n"
		"/run/slotbox/slotbox.sock) and optionally on TCP with a "
		"bearer\n"
		"token. Without --config it serves the built-in 'default' "
		"profile,\n"
		"overridable with SLOTBOX_* environment variables.\n"
		"\n"
		"Sandboxes outlive a daemon that dies (kill -9, crash) for\n"
		"--orphan-timeout seconds (default 600; 0: they end with it);\n"
		"a daemon started on the same --state-dir adopts them with\n"
		"their leases. SIGTERM ends them, or with --keep-sandboxes\n"
		"leaves them for the next start.\n"
		"\n"
		"A client must send a request's line and headers within\n"
		"--header-timeout seconds (default 10) or is disconnected.\n"
		"\n"
		"--snapshot-store-max-bytes caps what all snapshots cost on\n"
		"disk (each file, dir or link 4 KiB plus its data; default\n"
		"64 GiB, 0: no cap); a snapshot that would pass it is "
		"refused.\n"
		"\n"
		"--public-health answers GET/HEAD /v1/health on TCP without\n"
		"the token (for kubelet httpGet probes and load balancers);\n"
		"every other path still needs it.\n"
		"\n"
		"--egress-net is the IPv4 /16 that network: egress slots get\n"
		"their addresses from (default 10.<200+K>.0.0/16, K this\n"
		"daemon's uid range number); see docs/isolation.md.\n"
		"\n"
		"--slot-root picks how slots enter their roots where the\n"
		"profile's filter refuses user namespaces: pivot_root, or a\n"
		"chroot (cheaper with many threads on the host), or auto\n"
		"(the default: a chroot past 500 threads); see\n"
		"docs/isolation.md.\n");
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"state-dir", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"token-file", required_argument, NULL, 't'},
		{"log-format", required_argument, NULL, 'f'},
		{"log-level", required_argument, NULL, 'L'},
		{"init", required_argument, NULL, 'i'},
		{"cgroup", required_argument, NULL, 'g'},
		{"secrets-dir", required_argument, NULL, 'S'},
		{"orphan-timeout", required_argument, NULL, 'O'},
		{"keep-sandboxes", no_argument, NULL, 'K'},
		{"header-timeout", required_argument, NULL, 'H'},
		{"public-health", no_argument, NULL, 'P'},
		{"snapshot-store-max-bytes", required_argument, NULL, 'Z'},
		{"egress-net", required_argument, NULL, 'E'},
		{"slot-root", required_argument, NULL, 'R'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct daemon_opts o = {
		.socket_path =
			env_or("SLOTBOX_SOCKET", "/run/slotbox/slotbox.sock"),
		.state_dir = env_or("SLOTBOX_STATE_DIR", "/var/lib/slotbox"),
		.config_path = env_or("SLOTBOX_CONFIG", NULL),
		.init_path = env_or("SLOTBOX_INIT", NULL),
		.cgroup_mount = env_or("SLOTBOX_CGROUP", NULL),
		.secrets_dir = env_or("SLOTBOX_SECRETS_DIR", NULL),
		.orphan_timeout_s = 600,
		.header_timeout_s = 10,
		.snapshot_store_max_bytes = SNAPSHOT_DEFAULT_STORE_BYTES,
		.keep_sandboxes =
			env_or("SLOTBOX_KEEP_SANDBOXES", NULL) != NULL,
		.log_format = SB_LOG_TEXT,
		.log_level = SB_LOG_INFO,
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.socket_path = optarg;
			break;
		case 'd':
			o.state_dir = optarg;
			break;
		case 'c':
			o.config_path = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 't':
			o.token_file = optarg;
			break;
		case 'i':
			o.init_path = optarg;
			break;
		case 'g':
			o.cgroup_mount = optarg;
			break;
		case 'S':
			o.secrets_dir = optarg;
			break;
		case 'O': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 0 || v > 30L * 86400) {
				fprintf(stderr, "slotboxd: --orphan-timeout "
						"takes 0..2592000 seconds\n");
				return 2;
			}
			o.orphan_timeout_s = (int)v;
			break;
		}
		case 'K':
			o.keep_sandboxes = true;
			break;
		case 'E':
			o.egress_net = optarg;
			break;
		case 'R':
			if (strcmp(optarg, "auto") != 0 &&
			    strcmp(optarg, "chroot") != 0 &&
			    strcmp(optarg, "pivot_root") != 0) {
				fprintf(stderr, "slotboxd: --slot-root takes "
						"auto, chroot or pivot_root\n");
				return 2;
			}
			o.slot_root = optarg;
			break;
		case 'H': {
			char *end;
			double v = strtod(optarg, &end);
			/* !(v > 0) also refuses NaN */
			if (*end || end == optarg || !(v > 0) || v > 3600) {
				fprintf(stderr, "slotboxd: --header-timeout "
						"takes seconds in (0, 3600]\n");
				return 2;
			}
			o.header_timeout_s = v;
			break;
		}
		case 'P':
			o.public_health = true;
			break;
		case 'Z': {
			char *end;
			errno = 0;
			long long v = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 0) {
				fprintf(stderr, "slotboxd: --snapshot-store-"
						"max-bytes takes bytes (0: no "
						"cap)\n");
				return 2;
			}
			o.snapshot_store_max_bytes = v;
			break;
		}
		case 'f':
			if (strcmp(optarg, "json") == 0) {
				o.log_format = SB_LOG_JSON;
			} else if (strcmp(optarg, "text") != 0) {
				fprintf(stderr, "slotboxd: --log-format must "
						"be text or json\n");
				return 2;
			}
			break;
		case 'L':
			if (strcmp(optarg, "debug") == 0)
				o.log_level = SB_LOG_DEBUG;
			else if (strcmp(optarg, "info") == 0)
				o.log_level = SB_LOG_INFO;
			else if (strcmp(optarg, "warn") == 0)
				o.log_level = SB_LOG_WARN;
			else if (strcmp(optarg, "error") == 0)
				o.log_level = SB_LOG_ERROR;
			else {
				fprintf(stderr, "slotboxd: --log-level must be "
						"debug, info, warn or error\n");
				return 2;
			}
			break;
		case 'V':
			printf("slotboxd %s\n", SLOTBOX_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* The seed's profiles file, when nothing of ours names one; as the
	 * seed does, only if it exists (a warning says so otherwise). */
	const char *seed_file = env_or("ATROPOS_MODAL_PROFILES_FILE", NULL);
	if (!o.config_path && seed_file) {
		o.config_from_atropos = true;
		if (access(seed_file, F_OK) == 0)
			o.config_path = seed_file;
	}
	if (optind < argc) {
		fprintf(stderr, "slotboxd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (o.listen && !o.token_file) {
		fprintf(stderr, "slotboxd: --listen needs --token-file: TCP "
				"clients must present a bearer token\n");
		return 2;
	}
	if (o.public_health && !o.listen) {
		fprintf(stderr, "slotboxd: --public-health needs --listen: "
				"the unix socket never asks for a token\n");
		return 2;
	}
	return daemon_run(&o);
}
