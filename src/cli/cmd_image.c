/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_image.c - `slotbox image import NAME FILE | ls | rm NAME`. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/table.h"

static int image_ls(struct cli *cli, struct sbc *c)
{
	json_t *doc = NULL;
	struct sbc_error err = {0};
	if (sbc_request_json(c, "GET", "/v1/images", NULL, &doc, &err) < 0)
		return cli_fail("image ls", &err);
	if (cli->json) {
		cli_print_json(doc);
		json_decref(doc);
		return 0;
	}
	static const char *const header[] = {"IMAGE", "LAYERS", "SOURCE",
					     "WORKDIR", NULL};
	struct table t;
	int rc = table_init(&t, header);
	size_t i;
	json_t *img;
	json_array_foreach(json_object_get(doc, "images"), i, img)
	{
		char n[32];
		snprintf(n, sizeof n, "%zu",
			 json_array_size(json_object_get(img, "layers")));
		const char *row[] = {
			json_string_value(json_object_get(img, "name")), n,
			json_string_value(json_object_get(img, "source")),
			json_string_value(json_object_get(img, "workdir"))};
		rc = rc < 0 ? rc : table_add(&t, row);
	}
	if (rc == 0)
		table_print(&t);
	table_free(&t);
	json_decref(doc);
	return rc < 0 ? CLI_FAILED : 0;
}

static int image_import(struct cli *cli, struct sbc *c, const char *name,
			const char *file)
{
	/* The daemon opens the file: hand it an absolute path. */
	char *abs = realpath(file, NULL);
	if (!abs) {
		fprintf(stderr, "slotbox: image import: %s: %m\n", file);
		return CLI_FAILED;
	}
	json_t *body = json_pack("{s:s, s:s}", "name", name, "path", abs);
	json_t *doc = NULL;
	struct sbc_error err = {0};
	int rc = sbc_request_json(c, "POST", "/v1/images", body, &doc, &err);
	json_decref(body);
	free(abs);
	if (rc < 0)
		return cli_fail("image import", &err);
	if (cli->json)
		cli_print_json(doc);
	else
		printf("%s\n", name);
	json_decref(doc);
	return 0;
}

static int image_rm(struct sbc *c, const char *name)
{
	char *id = sbc_path_escape(name), *path = NULL;
	if (!id || asprintf(&path, "/v1/images/%s", id) < 0)
		path = NULL;
	free(id);
	struct sbc_error err = {0};
	int rc = path ? sbc_request_json(c, "DELETE", path, NULL, NULL, &err)
		      : -1;
	free(path);
	if (rc < 0)
		return err.code[0] ? cli_fail("image rm", &err) : CLI_FAILED;
	return 0;
}

int cmd_image(struct cli *cli, int argc, char **argv)
{
	if (cli_json_only(cli, argc, argv) < 0)
		return CLI_USAGE;
	int n = argc - optind;
	const char *sub = n > 0 ? argv[optind] : "";
	bool ok = (!strcmp(sub, "import") && n == 3) ||
		  (!strcmp(sub, "ls") && n == 1) ||
		  (!strcmp(sub, "rm") && n == 2);
	if (!ok)
		return cli_usage_error(
			"image import NAME FILE | image ls | image rm NAME");
	struct sbc *c = cli_client(cli);
	if (!c)
		return CLI_FAILED;
	if (!strcmp(sub, "ls"))
		return image_ls(cli, c);
	if (!strcmp(sub, "rm"))
		return image_rm(c, argv[optind + 1]);
	return image_import(cli, c, argv[optind + 1], argv[optind + 2]);
}
