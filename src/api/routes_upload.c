/* SPDX-License-Identifier: Apache-2.0 */
/* routes_upload.c - PUT /v1/slots/{id}/archive: an archive extracted under
 * a directory of the slot (API.md, Version 1.1).
 *
 * The daemon only bounds and forwards: the body goes to the slot's leader
 * in a sealed memfd, and a child there, as the slot's uid, checks and
 * unpacks it all or nothing (fileops_unpack.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "sandbox/files.h"

#define UPLOAD_TIMEOUT_S 600.0
#define UPLOAD_MAX_ENTRIES 100000
/* Unpacked bytes when the profile sets no disk_mb. */
#define UPLOAD_MAX_UNPACKED (UINT64_C(4) << 30)
#define UPLOAD_NOTE_MAX 512

struct upload_ctx {
	struct http_request *req;
	char path[SB_FILE_PATH_MAX];
	int err;
	uint64_t bytes;
	char note[UPLOAD_NOTE_MAX]; /* the entry count, or why it failed */
	size_t note_len;
};

static void upload_header(void *ud, int err, uint64_t size)
{
	struct upload_ctx *c = ud;
	c->err = err;
	c->bytes = size;
}

static void upload_data(void *ud, const char *buf, size_t len)
{
	struct upload_ctx *c = ud;
	size_t room = sizeof c->note - 1 - c->note_len;
	if (len > room)
		len = room;
	memcpy(c->note + c->note_len, buf, len);
	c->note_len += len;
	c->note[c->note_len] = '\0';
}

/* The child's errno as an answer (fileops.h says what each one means). */
static void upload_error(struct upload_ctx *c)
{
	struct http_request *req = c->req;
	const char *why = c->note_len ? c->note : strerror(c->err);
	int status;
	const char *code;
	switch (c->err) {
	case EBADMSG:
		http_respond_error(req, 400, "bad_archive", "%s", why);
		return;
	case EFBIG:
	case ENOSPC:
	case EDQUOT:
		http_respond_error(req, 413, "payload_too_large", "%s", why);
		return;
	case EEXIST:
		http_respond_error(req, 409, "conflict", "%s", why);
		return;
	default:
		api_file_errno(c->err, &status, &code);
		http_respond_error(req, status, code, "%s: %s", c->path, why);
	}
}

static void upload_end(void *ud, int ok, const char *why)
{
	struct upload_ctx *c = ud;
	if (!ok) {
		http_respond_error(c->req, 502, "sandbox_lost", "%s", why);
	} else if (c->err) {
		upload_error(c);
	} else {
		char *end = NULL;
		unsigned long long n = strtoull(c->note, &end, 10);
		if (!c->note_len || !end || *end)
			http_respond_error(c->req, 502, "sandbox_lost",
					   "garbled answer from the sandbox");
		else
			http_respond_json(c->req, 200,
					  json_pack("{s:s, s:I, s:I}", "path",
						    c->path, "entries",
						    (json_int_t)n, "bytes",
						    (json_int_t)c->bytes));
	}
	free(c);
}

static const struct file_op_cbs upload_cbs = {upload_header, upload_data,
					      upload_end};

/* format= as given, else what the body starts with: a zip's local header
 * or (anything else) a tar, compressed or not. */
static int upload_format(struct http_request *req, uint32_t *format)
{
	char fmt[16];
	const char *ctype;
	int r = http_query_get(req->query, "format", fmt, sizeof fmt);
	if (r == 0) {
		*format = req->body_len >= 4 && !memcmp(req->body, "PK\3\4", 4)
				  ? SB_ARCHIVE_ZIP
				  : SB_ARCHIVE_TAR;
		return 0;
	}
	if (r < 0 || api_archive_format(fmt, format, &ctype) < 0) {
		http_respond_error(req, 400, "bad_request",
				   "format must be tar, tar.gz, tgz or zip");
		return -1;
	}
	return 0;
}

void api_file_upload(struct http_request *req, struct sbx_slot *slot)
{
	const struct sb_profile *p = slot->sb->profile;
	struct sb_file_req fr = {.magic = SB_FILE_MAGIC,
				 .op = SB_FILE_UNPACK,
				 .max_entries = UPLOAD_MAX_ENTRIES};
	struct sb_err err;
	struct file_op *op;

	int r = http_query_get(req->query, "path", fr.path, sizeof fr.path);
	if (r == 0)
		snprintf(fr.path, sizeof fr.path, ".");
	if (r < 0 || !fr.path[0]) {
		http_respond_error(req, 400, "bad_request",
				   "path must be a directory path of at most "
				   "%d bytes",
				   SB_FILE_PATH_MAX - 1);
		return;
	}
	if (upload_format(req, &fr.format) < 0)
		return;
	if ((int64_t)req->body_len > p->max_file_bytes) {
		http_respond_error(req, 413, "payload_too_large",
				   "%zu bytes is more than this profile's "
				   "max_file_bytes (%lld)",
				   req->body_len, (long long)p->max_file_bytes);
		return;
	}
	if (!req->body_len) {
		http_respond_error(req, 400, "bad_archive",
				   "the body must be the archive");
		return;
	}
	/* What it unpacks to is bounded by the slot's disk, when it has a
	 * bound; the tmpfs refuses past it anyway, this says why. */
	fr.max_bytes = p->disk_mb > 0 ? (uint64_t)p->disk_mb << 20
				      : UPLOAD_MAX_UNPACKED;
	struct upload_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	c->req = req;
	memcpy(c->path, fr.path, sizeof c->path);
	if (slot_service_file(slot, &fr, req->body, req->body_len,
			      UPLOAD_TIMEOUT_S, false, &upload_cbs, c, &op,
			      &err) < 0) {
		free(c);
		http_respond_error(req, 502, "sandbox_lost", "%s", err.msg);
	}
}
