/* SPDX-License-Identifier: Apache-2.0 */
/* init_archive_static.c - lets slotbox-init link libarchive statically
 * without libxml2 (meson.build: init_archive).
 *
 * Every sandbox's init, leader and spare is a fork of slotbox-init, so
 * what it maps each of them carries: with the shared libarchive that is
 * libxml2, ICU and libstdc++ (18 libraries; libxml2 only for the xar
 * format, which slotbox never reads nor writes), about 1 ms of loader
 * work per exec and ~240 KiB of page tables and dirtied pages per slot
 * (bench/zygote_ab, docs/bench.md). Linked statically, only the objects
 * slotbox calls come in, but one of them, the tar and zip writers' shared
 * helper below, lives in archive_write_set_format.o next to the
 * "format by name" table that references every writer, xar's included.
 * Defining the helper here keeps that object, and libxml2, out. If a
 * libarchive release moves or renames it, meson's link check fails and
 * init falls back to the shared library: nothing breaks, init is larger.
 *
 * The same contract as libarchive's own (archive_write_set_format.c):
 * set an error naming the entry and what it is, return ARCHIVE_FAILED so
 * that the writer skips the entry. fileops.c never hands a writer such an
 * entry (it archives files, dirs and symlinks only). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <sys/stat.h>

int __archive_write_entry_filetype_unsupported(struct archive *a,
					       struct archive_entry *entry,
					       const char *format);

int __archive_write_entry_filetype_unsupported(struct archive *a,
					       struct archive_entry *entry,
					       const char *format)
{
	const char *what;
	switch (archive_entry_filetype(entry)) {
	case AE_IFSOCK:
		what = "a socket";
		break;
	case AE_IFCHR:
		what = "a character device";
		break;
	case AE_IFBLK:
		what = "a block device";
		break;
	case AE_IFIFO:
		what = "a FIFO";
		break;
	default:
		what = "a file of this type";
		break;
	}
	archive_set_error(a, EINVAL, "%s: %s format cannot archive %s",
			  archive_entry_pathname(entry), format, what);
	return ARCHIVE_FAILED;
}
