/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_pool.c - `slotbox status` and `slotbox profiles`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/table.h"

/* The columns of status and top. */
static const char *const status_header[] = {
	"PROFILE", "SANDBOXES", "HEALTHY", "STARTING", "MAX",
	"SLOTS",   "AVAILABLE", "LEASED",  "WAITERS",  NULL};
static const char *const status_keys[] = {
	"sandboxes",	 "healthy_sandboxes", "starting_sandboxes",
	"max_sandboxes", "total_slots",	      "available_slots",
	"leased_slots",	 "waiters",	      NULL};

/* Commands without arguments take only --json. */
static int no_args(struct cli *cli, int argc, char **argv)
{
	if (cli_json_only(cli, argc, argv) < 0)
		return CLI_USAGE;
	if (optind != argc)
		return cli_usage_error("%s takes no arguments", argv[0]);
	return 0;
}

/* A JSON scalar as text for a cell. */
static const char *cell(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else
		return NULL;
	return buf;
}

/* One table row per profile: name, then keys[i] of the profile object. */
static int print_by_profile(json_t *map, const char *const *header,
			    const char *const *keys, const char *def)
{
	struct table t;
	if (table_init(&t, header) < 0)
		goto oom;
	const char *name;
	json_t *p;
	json_object_foreach(map, name, p)
	{
		char bufs[TABLE_MAX_COLS][64];
		const char *row[TABLE_MAX_COLS] = {name};
		size_t i = 1;
		for (; keys[i - 1]; i++)
			row[i] = cell(p, keys[i - 1], bufs[i], sizeof bufs[i]);
		if (def)
			row[i] = strcmp(name, def) == 0 ? "*" : "";
		if (table_add(&t, row) < 0)
			goto oom;
	}
	table_print(&t);
	table_free(&t);
	return 0;
oom:
	table_free(&t);
	fputs("slotbox: out of memory\n", stderr);
	return CLI_FAILED;
}

/* One table row per profile of map_key in the answer of fetch, or the
 * JSON itself; default_key names the field that marks the default. */
static int show(struct cli *cli, int argc, char **argv,
		int (*fetch)(struct sbc *, json_t **, struct sbc_error *),
		const char *map_key, const char *const *header,
		const char *const *keys, const char *default_key)
{
	int rc = no_args(cli, argc, argv);
	if (rc)
		return rc;
	json_t *doc = NULL;
	struct sbc_error err = {0};
	if (fetch == sbc_status && cli_is_cluster(cli)) {
		/* several nodes: their pools summed, each node's under
		 * "nodes" */
		struct sbcc *cc = cli_cluster(cli);
		if (!cc)
			return CLI_FAILED;
		if (sbcc_status(cc, &doc, &err) < 0)
			return cli_fail(argv[0], &err);
	} else {
		struct sbc *c = cli_client(cli);
		if (!c)
			return CLI_FAILED;
		if (fetch(c, &doc, &err) < 0)
			return cli_fail(argv[0], &err);
	}
	if (cli->json)
		cli_print_json(doc);
	else
		rc = print_by_profile(
			json_object_get(doc, map_key), header, keys,
			default_key ? json_string_value(
					      json_object_get(doc, default_key))
				    : NULL);
	json_decref(doc);
	return rc;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	return show(cli, argc, argv, sbc_status, "pools", status_header,
		    status_keys, NULL);
}

int cmd_profiles(struct cli *cli, int argc, char **argv)
{
	static const char *const header[] = {
		"PROFILE",	  "IMAGE",    "CPU", "MEMORY_MB",
		"NETWORK",	  "SLOTS/SB", "MIN", "MAX",
		"EXEC_TIMEOUT_S", "DEFAULT",  NULL};
	static const char *const keys[] = {"image",
					   "cpu",
					   "memory_mb",
					   "network",
					   "slots_per_sandbox",
					   "min_sandboxes",
					   "max_sandboxes",
					   "execution_timeout_s",
					   NULL};
	return show(cli, argc, argv, sbc_profiles, "profiles", header, keys,
		    "default_profile");
}

/* One row per object of list, keys[i] as cells; bytes keys shown in MiB. */
static int print_rows(json_t *list, const char *const *header,
		      const char *const *keys)
{
	struct table t;
	size_t i;
	json_t *o;
	if (table_init(&t, header) < 0)
		goto oom;
	json_array_foreach(list, i, o)
	{
		char bufs[TABLE_MAX_COLS][64];
		const char *row[TABLE_MAX_COLS] = {0};
		for (size_t k = 0; keys[k]; k++) {
			json_t *v = json_object_get(o, keys[k]);
			if (strstr(keys[k], "bytes") && json_is_integer(v)) {
				snprintf(bufs[k], sizeof bufs[k], "%lld",
					 (long long)(json_integer_value(v) >>
						     20));
				row[k] = bufs[k];
			} else {
				row[k] = cell(o, keys[k], bufs[k],
					      sizeof bufs[k]);
			}
		}
		if (table_add(&t, row) < 0)
			goto oom;
	}
	table_print(&t);
	table_free(&t);
	return 0;
oom:
	table_free(&t);
	fputs("slotbox: out of memory\n", stderr);
	return CLI_FAILED;
}

/* The GPU rows of a status answer (daemons with NVML only). */
static int print_gpus(json_t *gpus)
{
	static const char *const dev_header[] = {
		"GPU", "NAME", "UTIL%", "MEM_USED_MIB", "MEM_TOTAL_MIB", NULL};
	static const char *const dev_keys[] = {"gpu",
					       "name",
					       "utilization_percent",
					       "memory_used_bytes",
					       "memory_total_bytes",
					       NULL};
	static const char *const slot_header[] = {"SLOT",  "PROFILE", "GPU",
						  "UTIL%", "MEM_MIB", NULL};
	static const char *const slot_keys[] = {
		"slot",		"profile", "gpu", "utilization_percent",
		"memory_bytes", NULL};
	if (!json_is_object(gpus))
		return 0;
	putchar('\n');
	if (print_rows(json_object_get(gpus, "devices"), dev_header,
		       dev_keys) != 0)
		return CLI_FAILED;
	json_t *slots = json_object_get(gpus, "slots");
	if (json_array_size(slots) == 0)
		return 0;
	putchar('\n');
	return print_rows(slots, slot_header, slot_keys);
}

/* `slotbox top [--interval S] [--once]`: the pools, refreshed in place. */
int cmd_top(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"once", no_argument, NULL, 'o'},
		{0},
	};
	double interval = 1;
	bool once = false;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'i' && cli_seconds(optarg, &interval) && interval > 0)
			continue;
		if (o == 'o') {
			once = true;
			continue;
		}
		return cli_usage_error("top takes --interval S and --once");
	}
	if (optind != argc)
		return cli_usage_error("top takes no arguments");
	for (;;) {
		struct sbc *c = cli_client(cli);
		if (!c)
			return CLI_FAILED;
		json_t *doc = NULL;
		struct sbc_error err = {0};
		if (sbc_status(c, &doc, &err) < 0)
			return cli_fail("top", &err);
		if (!once)
			fputs("\033[H\033[2J", stdout); /* home, clear */
		time_t now = time(NULL);
		char when[32];
		strftime(when, sizeof when, "%H:%M:%S", localtime(&now));
		printf("slotbox top - %s (every %gs, Ctrl-C quits)\n\n", when,
		       interval);
		int rc = print_by_profile(json_object_get(doc, "pools"),
					  status_header, status_keys, NULL);
		if (rc == 0)
			rc = print_gpus(json_object_get(doc, "gpus"));
		json_decref(doc);
		fflush(stdout);
		if (rc || once)
			return rc;
		struct timespec ts = {
			.tv_sec = (time_t)interval,
			.tv_nsec =
				(long)((interval - (double)(time_t)interval) *
				       1e9)};
		nanosleep(&ts, NULL);
	}
}
