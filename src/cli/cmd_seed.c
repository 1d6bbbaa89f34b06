/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_seed.c - `slotbox fork`, `snapshot` and `snapshots`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/table.h"

#define MAX_FORK 128

/* slotbox fork [-n N] [--trajectory-id T]... [--ttl S] SLOT: the new
 * slots' ids, one a line. */
int cmd_fork(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, 'n'},
		{"trajectory-id", required_argument, NULL, 't'},
		{"ttl", required_argument, NULL, 'T'},
		{"json", no_argument, NULL, 'j'},
		{0},
	};
	const char *ids[MAX_FORK];
	int n_ids = 0, count = 0, c;
	double ttl = 0;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'n':
			count = (int)strtol(optarg, &end, 10);
			if (!*optarg || *end || count < 1 || count > MAX_FORK)
				return cli_usage_error("-n takes 1 to %d",
						       MAX_FORK);
			break;
		case 't':
			if (n_ids == MAX_FORK)
				return cli_usage_error("too many "
						       "--trajectory-id");
			ids[n_ids++] = optarg;
			break;
		case 'T':
			if (!cli_seconds(optarg, &ttl))
				return cli_usage_error("bad number of seconds "
						       "'%s'",
						       optarg);
			break;
		case 'j':
			cli->json = true;
			break;
		default:
			return cli_usage_error("bad option for fork");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("fork takes one SLOT");
	if (!count)
		count = n_ids ? n_ids : 1;
	if (n_ids && n_ids != count)
		return cli_usage_error("give -n N or N --trajectory-id, or "
				       "both matching");
	struct sbc *sc = cli_slot_client(cli, argv[optind]);
	if (!sc)
		return CLI_FAILED;
	struct sbc_slot *slots;
	struct sbc_error err = {0};
	if (sbc_fork(sc, argv[optind], count, n_ids ? ids : NULL, ttl, &slots,
		     &err) < 0)
		return cli_fail("fork", &err);
	json_t *arr = json_array();
	for (int i = 0; i < count; i++) {
		if (cli->json)
			json_array_append(arr, slots[i].raw);
		else
			printf("%s\n", slots[i].slot_id);
	}
	if (cli->json) {
		json_t *doc = json_pack("{s:o}", "slots", arr);
		cli_print_json(doc);
		json_decref(doc);
	} else {
		json_decref(arr);
	}
	sbc_slots_free(slots, (size_t)count);
	return 0;
}

static int json_flag_only(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return cli_usage_error("bad option for %s", argv[0]);
		cli->json = true;
	}
	return 0;
}

/* slotbox snapshot SLOT NAME */
int cmd_snapshot(struct cli *cli, int argc, char **argv)
{
	int rc = json_flag_only(cli, argc, argv);
	if (rc)
		return rc;
	if (optind + 2 != argc)
		return cli_usage_error("snapshot takes SLOT NAME");
	struct sbc *c = cli_slot_client(cli, argv[optind]);
	if (!c)
		return CLI_FAILED;
	json_t *meta = NULL;
	struct sbc_error err = {0};
	if (sbc_snapshot(c, argv[optind], argv[optind + 1], &meta, &err) < 0)
		return cli_fail("snapshot", &err);
	if (cli->json)
		cli_print_json(meta);
	else
		printf("%s\n", argv[optind + 1]);
	json_decref(meta);
	return 0;
}

static int add_row(struct table *t, json_t *s)
{
	char entries[24], bytes[24];
	snprintf(entries, sizeof entries, "%lld",
		 (long long)json_integer_value(json_object_get(s, "entries")));
	snprintf(bytes, sizeof bytes, "%lld",
		 (long long)json_integer_value(json_object_get(s, "bytes")));
	const char *row[] = {
		json_string_value(json_object_get(s, "name")),
		json_string_value(json_object_get(s, "profile")), entries,
		bytes, json_string_value(json_object_get(s, "source_slot"))};
	return table_add(t, row);
}

static int list_snapshots(struct cli *cli, struct sbc *c)
{
	static const char *const header[] = {"NAME",  "PROFILE", "ENTRIES",
					     "BYTES", "SOURCE",	 NULL};
	json_t *doc = NULL;
	struct sbc_error err = {0};
	if (sbc_snapshots(c, &doc, &err) < 0)
		return cli_fail("snapshots", &err);
	if (cli->json) {
		cli_print_json(doc);
		json_decref(doc);
		return 0;
	}
	struct table t;
	int rc = table_init(&t, header);
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(doc, "snapshots"), i, s)
	{
		if (rc == 0)
			rc = add_row(&t, s);
	}
	if (rc == 0)
		table_print(&t);
	table_free(&t);
	json_decref(doc);
	if (rc < 0) {
		fputs("slotbox: out of memory\n", stderr);
		return CLI_FAILED;
	}
	return 0;
}

/* slotbox snapshots [rm NAME...] */
int cmd_snapshots(struct cli *cli, int argc, char **argv)
{
	int rc = json_flag_only(cli, argc, argv);
	if (rc)
		return rc;
	bool rm = optind < argc && strcmp(argv[optind], "rm") == 0;
	if (!rm && optind != argc)
		return cli_usage_error("snapshots takes no arguments, or rm "
				       "NAME...");
	if (rm && optind + 1 == argc)
		return cli_usage_error("snapshots rm needs a NAME");
	struct sbc *c = cli_client(cli);
	if (!c)
		return CLI_FAILED;
	if (!rm)
		return list_snapshots(cli, c);
	for (int i = optind + 1; i < argc; i++) {
		struct sbc_error err = {0};
		if (sbc_delete_snapshot(c, argv[i], &err) < 0)
			rc = cli_fail(argv[i], &err);
	}
	return rc;
}
