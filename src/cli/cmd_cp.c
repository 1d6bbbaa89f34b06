/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_cp.c - `slotbox cp`: one file between here and a slot (or between
 * two slots). SLOT:PATH names a file in a slot (relative paths resolve in
 * its workspace); "-" is stdin or stdout. */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/* Local files are read whole; the daemon's own limits are lower. */
#define MAX_LOCAL ((size_t)256 << 20)

struct place {
	char *slot; /* owned; NULL for a local path */
	const char *path;
};

/* "SLOT:PATH" when there is a colon before any slash. */
static int parse_place(const char *arg, struct place *p)
{
	const char *colon = strchr(arg, ':');
	const char *slash = strchr(arg, '/');
	p->slot = NULL;
	p->path = arg;
	if (!colon || colon == arg || (slash && slash < colon))
		return 0;
	p->slot = strndup(arg, (size_t)(colon - arg));
	p->path = colon + 1;
	if (!p->slot)
		return -1;
	return 0;
}

static int read_local(const char *path, char **data, size_t *len)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO
					: open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "slotbox: cp: %s: %m\n", path);
		return -1;
	}
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			break;
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			fprintf(stderr, "slotbox: cp: reading %s: %m\n", path);
			break;
		}
		if (r == 0) {
			if (fd != STDIN_FILENO)
				close(fd);
			*data = buf;
			*len = n;
			return 0;
		}
		n += (size_t)r;
		if (n == cap) {
			char *b =
				cap < MAX_LOCAL ? realloc(buf, cap * 2) : NULL;
			if (!b) {
				fprintf(stderr,
					"slotbox: cp: %s is larger than %zu "
					"MiB\n",
					path, MAX_LOCAL >> 20);
				break;
			}
			buf = b;
			cap *= 2;
		}
	}
	free(buf);
	if (fd != STDIN_FILENO)
		close(fd);
	return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Into dir/ keeps the source's name. Owned result. */
static char *target_name(const char *dst, const char *src, bool is_dir)
{
	if (!is_dir)
		return strdup(dst);
	char *copy = strdup(src), *out = NULL;
	if (copy && asprintf(&out, "%s%s%s", dst,
			     dst[strlen(dst) - 1] == '/' ? "" : "/",
			     basename(copy)) < 0)
		out = NULL;
	free(copy);
	return out;
}

static int write_local(const char *dst, const char *src, const char *data,
		       size_t len)
{
	if (strcmp(dst, "-") == 0) {
		if (write_all(STDOUT_FILENO, data, len) == 0)
			return 0;
		perror("slotbox: cp: writing stdout");
		return -1;
	}
	struct stat st;
	bool is_dir = stat(dst, &st) == 0 && S_ISDIR(st.st_mode);
	char *name = target_name(dst, src, is_dir);
	if (!name)
		return -1;
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = fd < 0 || write_all(fd, data, len) < 0 ? -1 : 0;
	if (fd >= 0 && close(fd) < 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "slotbox: cp: %s: %m\n", name);
	free(name);
	return rc;
}

/* Write data to dst (in a slot); a trailing / names a directory, into
 * which the file goes under src's name. */
static int write_slot(struct cli *cli, const struct place *src,
		      const struct place *dst, const char *data, size_t len)
{
	struct sbc *c = cli_slot_client(cli, dst->slot);
	if (!c)
		return CLI_FAILED;
	size_t n = strlen(dst->path);
	char *name = NULL;
	if (n && dst->path[n - 1] == '/' && strcmp(src->path, "-"))
		name = target_name(dst->path, src->path, true);
	struct sbc_error err = {0};
	int rc = 0;
	if (sbc_write_file(c, dst->slot, name ? name : dst->path, data, len,
			   &err) < 0)
		rc = cli_fail("cp", &err);
	free(name);
	return rc;
}

static int copy_file(struct cli *cli, const struct place *src,
		     const struct place *dst)
{
	char *data = NULL;
	size_t len = 0;
	struct sbc_error err = {0};
	int rc = 0;
	if (src->slot) {
		struct sbc *c = cli_slot_client(cli, src->slot);
		if (!c)
			return CLI_FAILED;
		bool truncated = false;
		if (sbc_read_file(c, src->slot, src->path, 0, &data, &len,
				  &truncated, &err) < 0)
			return cli_fail("cp", &err);
		if (truncated) {
			fprintf(stderr,
				"slotbox: cp: %s:%s is larger than the "
				"profile's max_file_bytes\n",
				src->slot, src->path);
			free(data);
			return CLI_FAILED;
		}
	} else if (read_local(src->path, &data, &len) < 0) {
		return CLI_FAILED;
	}
	if (dst->slot)
		rc = write_slot(cli, src, dst, data, len);
	else if (write_local(dst->path, src->path, data, len) < 0)
		rc = CLI_FAILED;
	free(data);
	if (rc == 0 && cli->json && strcmp(dst->path, "-") != 0) {
		json_t *doc = json_pack("{s:s?, s:s, s:s?, s:s, s:I}", "slot",
					src->slot, "source", src->path,
					"to_slot", dst->slot, "destination",
					dst->path, "bytes", (json_int_t)len);
		cli_print_json(doc);
		json_decref(doc);
	}
	return rc;
}

int cmd_cp(struct cli *cli, int argc, char **argv)
{
	if (cli_json_only(cli, argc, argv) < 0)
		return CLI_USAGE;
	if (argc - optind != 2)
		return cli_usage_error("cp takes SRC and DST");
	struct place src, dst;
	if (parse_place(argv[optind], &src) < 0 ||
	    parse_place(argv[optind + 1], &dst) < 0) {
		free(src.slot);
		fputs("slotbox: out of memory\n", stderr);
		return CLI_FAILED;
	}
	int rc;
	if (!src.slot && !dst.slot)
		rc = cli_usage_error("cp: one side must be SLOT:PATH");
	else if (!*src.path || !*dst.path)
		rc = cli_usage_error("cp: empty path");
	else
		rc = copy_file(cli, &src, &dst);
	free(src.slot);
	free(dst.slot);
	return rc;
}
