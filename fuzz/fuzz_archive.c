/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_archive.c - slotbox's one extractor (src/archive/extract.c) under
 * each of its policies: layer and image archives as extract_tar unpacks
 * them (run by slotbox-image on untrusted input), uploads into a slot
 * (extract_policy_upload: fileops_unpack.c, PUT /v1/slots/{id}/archive)
 * and workspace templates (extract_policy_template: daemon/templates.c).
 *
 * Input: one flag byte (bit 0: OCI whiteouts on, as for a layer; off, as
 * for the outer archive of an import; bit 1: fix the tar checksums, see
 * tarfix.h; bit 2: the upload policy instead; bit 4: the template policy
 * instead (bit 2 wins); bit 3: with either, read a zip), then the archive
 * (any filter libarchive knows, tar format, or zip). It is unpacked into a
 * fresh directory on the scratch tmpfs, beside a canary directory. Checks:
 * whatever the archive holds, nothing outside the destination is created
 * or changed, no device node appears (only 0:0 whiteouts, with whiteouts
 * on), the size bound holds, and a refusal comes with a message; under
 * the upload and template policies also: no FIFO or socket, and the entry
 * bound holds; under the upload policy no set-id file and no symlink that
 * resolves out of the destination; under the template policy every entry
 * is the extracting user's, whatever owner the archive names. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "archive/extract.h"
#include "common/util.h"
#include "fuzz.h"
#include "tarfix.h"

#define MAX_BYTES (1u << 20)
#define MAX_ENTRIES 1000

static char top[4096], dest[4200], outside[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_SETUP(realpath(fuzz_scratch("archive"), top) != NULL);
	snprintf(dest, sizeof dest, "%s/dest", top);
	snprintf(outside, sizeof outside, "%s/outside", top);
	return 0;
}

/* Under the template policy: ordinary entries, all the extractor's. */
static void check_template_entry(const char *rel, const struct stat *st)
{
	FUZZ_CHECK(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) ||
			   S_ISLNK(st->st_mode),
		   "%s: mode %o unpacked into a template", rel, st->st_mode);
	FUZZ_CHECK(st->st_uid == geteuid() && st->st_gid == getegid(),
		   "%s: owner %u:%u kept in a template", rel,
		   (unsigned)st->st_uid, (unsigned)st->st_gid);
}

/* Under the upload policy: a symlink must not lead out of the
 * destination (the kernel says, resolving it beneath the root). */
static void check_upload_entry(int root, const char *rel, const struct stat *st)
{
	FUZZ_CHECK(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) ||
			   S_ISLNK(st->st_mode),
		   "%s: mode %o unpacked by an upload", rel, st->st_mode);
	FUZZ_CHECK(!(st->st_mode & (S_ISUID | S_ISGID)) || S_ISDIR(st->st_mode),
		   "%s: set-id bit kept by an upload", rel);
	if (!S_ISLNK(st->st_mode))
		return;
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve =
				       RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof how);
	FUZZ_CHECK(fd >= 0 || errno != EXDEV,
		   "%s: symlink out of the destination", rel);
	if (fd >= 0)
		close(fd);
}

struct walk {
	bool oci, upload, template;
	int root;
	uint64_t total;
};

/* Walk what was unpacked: no device but a whiteout, bounded sizes. */
static void check_tree(struct walk *w, int dfd, const char *prefix, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	FUZZ_SETUP(d != NULL);
	while ((e = readdir(d))) {
		struct stat st;
		char rel[4096];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "",
			 e->d_name);
		FUZZ_SETUP(fstatat(dirfd(d), e->d_name, &st,
				   AT_SYMLINK_NOFOLLOW) == 0);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			FUZZ_CHECK(w->oci && S_ISCHR(st.st_mode) &&
					   st.st_rdev == makedev(0, 0),
				   "device node %s unpacked", e->d_name);
		if (w->upload)
			check_upload_entry(w->root, rel, &st);
		if (w->template)
			check_template_entry(rel, &st);
		if (S_ISREG(st.st_mode))
			w->total += (uint64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode) && depth < 64) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);
			if (sub >= 0)
				check_tree(w, sub, rel, depth + 1);
		}
	}
	closedir(d);
}

static void check_outside(void)
{
	static const char *const names[] = {"dest", "outside", NULL};
	fuzz_check_outside(top, names, outside);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool oci = data[0] & 1, upload = data[0] & 4;
	bool template = !upload && (data[0] & 16);
	sb_rm_rf(dest);
	sb_rm_rf(outside);
	FUZZ_SETUP(mkdir(dest, 0755) == 0 && mkdir(outside, 0755) == 0);
	char p[4400];
	snprintf(p, sizeof p, "%s/canary", outside);
	int c = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	FUZZ_SETUP(c >= 0 && write(c, "canary", 6) == 6);
	close(c);

	uint8_t *tar = malloc(size);
	FUZZ_SETUP(tar != NULL);
	memcpy(tar, data + 1, size - 1);
	if (data[0] & 2)
		tar_fix_checksums(tar, size - 1);
	int fd = memfd_create("archive", MFD_CLOEXEC);
	FUZZ_SETUP(fd >= 0);
	FUZZ_SETUP(write(fd, tar, size - 1) == (ssize_t)(size - 1) &&
		   lseek(fd, 0, SEEK_SET) == 0);
	free(tar);
	struct sb_err err = {0};
	struct extract_stats stats = {0};
	bool zip = data[0] & 8;
	struct extract_policy pol =
		upload ? extract_policy_upload(zip, MAX_BYTES, MAX_ENTRIES)
		       : extract_policy_template(zip, MAX_BYTES, MAX_ENTRIES);
	int rc = upload || template
			 ? extract_archive(fd, dest, &pol, &stats, &err)
			 : extract_tar(fd, dest, oci, MAX_BYTES, &err);
	close(fd);
	FUZZ_CHECK(stats.entries <= MAX_ENTRIES && stats.bytes <= MAX_BYTES,
		   "%llu entries, %llu bytes past the bounds",
		   (unsigned long long)stats.entries,
		   (unsigned long long)stats.bytes);
	FUZZ_CHECK(rc == 0 || err.msg[0], "refused without a message");
	if (getenv("FUZZ_DEBUG")) /* the verdict, for people */
		fprintf(stderr, "extract: %s\n", rc == 0 ? "ok" : err.msg);
	int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	FUZZ_CHECK(dfd >= 0, "the destination is no longer a directory");
	struct walk w = {.oci = oci && !upload && !template,
			 .upload = upload,
			 .template = template,
			 .root = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC)};
	FUZZ_SETUP(w.root >= 0);
	check_tree(&w, dfd, "", 0);
	close(w.root);
	/* data bytes are bounded; blocks add at most a page a file */
	FUZZ_CHECK(rc < 0 || w.total <= MAX_BYTES + (64u << 20),
		   "%llu bytes unpacked", (unsigned long long)w.total);
	check_outside();
	return 0;
}
