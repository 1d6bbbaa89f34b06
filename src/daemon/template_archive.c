/* SPDX-License-Identifier: Apache-2.0 */
/* template_archive.c - a workspace template from a tar or zip archive.
 *
 * libarchive writes relative paths against the working directory, so the
 * extraction runs with the destination as cwd; it happens at start, before
 * the daemon has any thread, and the old cwd is restored after. Every
 * entry is checked before it is written: a relative path without "..",
 * a regular file, a directory, a symlink or a hard link within the tree;
 * the owner is root whatever the archive says. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "daemon/templates.h"

bool template_is_archive(const char *path)
{
	static const char *const ext[] = {".tar", ".tar.gz", ".tgz", ".zip"};
	size_t n = strlen(path);
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && strcmp(path + n - e, ext[i]) == 0)
			return true;
	}
	return false;
}

/* Relative, no ".." component, not empty. */
static bool rel_path_ok(const char *p)
{
	if (!p || !*p || p[0] == '/')
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');
		if (e - s == 2 && s[0] == '.' && s[1] == '.')
			return false;
		s = *e ? e + 1 : e;
	}
	return true;
}

static int check_entry(struct archive_entry *e, uint64_t *bytes,
		       uint64_t *entries, struct sb_err *err)
{
	const char *path = archive_entry_pathname(e);
	const char *link = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (!rel_path_ok(path))
		return sb_err_set(err, EINVAL,
				  "entry \"%.200s\": not a "
				  "relative path inside the tree",
				  path ? path : "");
	if (link && !rel_path_ok(link))
		return sb_err_set(err, EINVAL,
				  "entry \"%.200s\": hard link out of the tree",
				  path);
	if (!link && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return sb_err_set(err, EINVAL,
				  "entry \"%.200s\": devices, FIFOs and "
				  "sockets are not allowed",
				  path);
	if (++*entries > TEMPLATE_MAX_ENTRIES)
		return sb_err_set(err, EFBIG, "more than %d entries",
				  TEMPLATE_MAX_ENTRIES);
	int64_t size = archive_entry_size(e);
	*bytes += size > 0 ? (uint64_t)size : 0;
	if (*bytes > (uint64_t)TEMPLATE_MAX_BYTES)
		return sb_err_set(err, EFBIG, "more than %lld bytes",
				  (long long)TEMPLATE_MAX_BYTES);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_uname(e, NULL);
	archive_entry_set_gname(e, NULL);
	return 0;
}

static int copy_data(struct archive *in, struct archive *out,
		     struct sb_err *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	for (;;) {
		int r = archive_read_data_block(in, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK)
			return sb_err_set(err, EIO, "read: %s",
					  archive_error_string(in));
		if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK)
			return sb_err_set(err, EIO, "write: %s",
					  archive_error_string(out));
	}
}

static int extract_all(struct archive *in, struct archive *out,
		       struct sb_err *err)
{
	uint64_t bytes = 0, entries = 0;
	struct archive_entry *e;
	for (;;) {
		int r = archive_read_next_header(in, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return sb_err_set(err, EINVAL, "%s",
					  archive_error_string(in));
		if (check_entry(e, &bytes, &entries, err) < 0)
			return -1;
		if (archive_write_header(out, e) != ARCHIVE_OK)
			return sb_err_set(err, EIO, "entry \"%.200s\": %s",
					  archive_entry_pathname(e),
					  archive_error_string(out));
		if (archive_entry_size(e) > 0 && copy_data(in, out, err) < 0)
			return -1;
		if (archive_write_finish_entry(out) != ARCHIVE_OK)
			return sb_err_set(err, EIO, "entry \"%.200s\": %s",
					  archive_entry_pathname(e),
					  archive_error_string(out));
	}
}

int template_extract(const char *archive, int dst_dir, struct sb_err *err)
{
	_cleanup_fd_ int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return sb_err_sys(err, "open the working directory");
	struct archive *in = archive_read_new();
	struct archive *out = archive_write_disk_new();
	int r = -1;
	if (!in || !out) {
		sb_err_set(err, ENOMEM, "out of memory");
		goto done;
	}
	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	archive_read_support_format_zip(in);
	archive_write_disk_set_options(
		out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
			     ARCHIVE_EXTRACT_SECURE_SYMLINKS |
			     ARCHIVE_EXTRACT_SECURE_NODOTDOT |
			     ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	if (archive_read_open_filename(in, archive, 1 << 16) != ARCHIVE_OK) {
		sb_err_set(err, EINVAL, "%s", archive_error_string(in));
		goto done;
	}
	if (fchdir(dst_dir) < 0) {
		sb_err_sys(err, "enter the template dir");
		goto done;
	}
	r = extract_all(in, out, err);
	if (r == 0 && archive_write_close(out) != ARCHIVE_OK)
		r = sb_err_set(err, EIO, "%s", archive_error_string(out));
	if (fchdir(cwd) < 0 && r == 0)
		r = sb_err_sys(err, "return to the working directory");
done:
	if (in)
		archive_read_free(in);
	if (out)
		archive_write_free(out);
	return r;
}
