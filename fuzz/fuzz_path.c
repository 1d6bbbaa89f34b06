/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_path.c - the path rules of the file tools (src/init/fileops.c).
 *
 * Input: one byte choosing the operation (read, write, list, recursive
 * list, archive), then the path (up to a NUL), then what a write writes.
 * The operation runs on a scratch tree laid out like a slot:
 *
 *   T/outside/canary         beyond the root: must never be reached
 *   T/root/etc/passwd        in the root, outside the workspace
 *   T/root/workspace/...     files, a fifo, symlinks up, out, absolute,
 *                            in a loop, and to /proc's magic links
 *
 * rebuilt for every input, with T/root as the root absolute paths resolve
 * in (as "/" is in a slot). Checks: a path fileops_open accepts lands
 * beneath the workspace (relative) or the root (absolute); nothing outside
 * the root is ever created, changed or reached; the reply is well-formed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "fuzz.h"
#include "init/fileops.h"

static char top[4096], root[4200], ws[4300], outside[4200];

static void put(const char *dir, const char *name, const char *text)
{
	char p[4400];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_SETUP(fd >= 0);
	FUZZ_SETUP(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void link_at(const char *dir, const char *name, const char *target)
{
	char p[4400];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FUZZ_SETUP(symlink(target, p) == 0);
}

static void build_tree(void)
{
	char p[4400];
	FUZZ_SETUP(sb_mkdir_p(outside, 0755) == 0);
	put(outside, "canary", "canary");
	snprintf(p, sizeof p, "%s/etc", root);
	FUZZ_SETUP(sb_mkdir_p(p, 0755) == 0);
	put(p, "passwd", "root:x:0:0::/:/bin/sh\n");
	snprintf(p, sizeof p, "%s/dir/sub", ws);
	FUZZ_SETUP(sb_mkdir_p(p, 0755) == 0);
	put(ws, "file", "hello\n");
	put(p, "deep", "deep\n");
	snprintf(p, sizeof p, "%s/fifo", ws);
	FUZZ_SETUP(mkfifo(p, 0644) == 0);
	link_at(ws, "up", "..");
	link_at(ws, "out", "../../outside");
	link_at(ws, "abs", "/etc");
	link_at(ws, "abs_out", "/../outside/canary");
	link_at(ws, "loop", "loop");
	link_at(ws, "inside", "dir/sub");
	link_at(ws, "magic", "/proc/self/root");
	snprintf(p, sizeof p, "%s/dir", ws);
	link_at(p, "back", "../file");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* canonical, as /proc/self/fd shows paths */
	FUZZ_SETUP(realpath(fuzz_scratch("path"), top) != NULL);
	snprintf(root, sizeof root, "%s/root", top);
	snprintf(ws, sizeof ws, "%s/workspace", root);
	snprintf(outside, sizeof outside, "%s/outside", top);
	return 0;
}

/* Nothing but root/ and outside/ in T, nothing but the canary in
 * outside/, and the canary as it was. */
static void check_outside(void)
{
	static const char *const names[] = {"root", "outside", NULL};
	fuzz_check_outside(top, names, outside);
}

/* Where fd really is must be beneath base. */
static void check_beneath(int fd, const char *base, const char *path)
{
	char link[64], at[4096];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, at, sizeof at - 1);
	FUZZ_SETUP(n > 0);
	at[n] = '\0';
	size_t bl = strlen(base);
	FUZZ_CHECK(strncmp(at, base, bl) == 0 && (!at[bl] || at[bl] == '/'),
		   "\"%s\" opened %s, outside %s", path, at, base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t ops[] = {SB_FILE_READ, SB_FILE_WRITE,
				       SB_FILE_LIST, SB_FILE_LIST,
				       SB_FILE_ARCHIVE};
	struct sb_file_req req = {.magic = SB_FILE_MAGIC};
	if (size < 2)
		return 0;
	size_t plen = strnlen((const char *)data + 1, size - 1);
	if (plen >= sizeof req.path)
		return 0; /* the daemon refuses these before the sandbox */
	memcpy(req.path, data + 1, plen);
	const uint8_t *body = data + 1 + plen + (1 + plen < size);
	size_t blen = size - (size_t)(body - data);
	unsigned k = data[0] % 5;
	req.op = ops[k];
	req.recursive = k == 3;
	req.max_entries = data[0] >> 4;
	req.format = (data[0] >> 3) % 3;

	sb_rm_rf(root);
	sb_rm_rf(outside);
	build_tree();
	struct fileops_dirs dirs = {root, ws};
	if (plen) {
		int fd = fileops_open(&dirs, req.path, O_PATH, 0);
		if (fd >= 0) {
			check_beneath(fd, req.path[0] == '/' ? root : ws,
				      req.path);
			close(fd);
		} else {
			FUZZ_CHECK(errno != 0, "failure without errno");
		}
	}

	/* the operation itself: data in a memfd, the answer to another */
	int in = memfd_create("in", MFD_CLOEXEC);
	int out = memfd_create("out", MFD_CLOEXEC);
	FUZZ_SETUP(in >= 0 && out >= 0);
	FUZZ_SETUP(write(in, body, blen) == (ssize_t)blen &&
		   lseek(in, 0, SEEK_SET) == 0);
	int rc = fileops_run(&req, &dirs, in, out);
	struct sb_file_reply r;
	ssize_t n = pread(out, &r, sizeof r, 0);
	FUZZ_CHECK(rc != 0 || (n == (ssize_t)sizeof r &&
			       r.magic == SB_FILE_MAGIC && r.err >= 0),
		   "op %u on \"%s\": exit %d without a good reply", req.op,
		   req.path, rc);
	if (rc == 0 && r.err == 0 && req.op == SB_FILE_WRITE)
		FUZZ_CHECK(r.size == blen, "wrote %llu of %zu",
			   (unsigned long long)r.size, blen);
	close(in);
	close(out);
	check_outside();
	return 0;
}
