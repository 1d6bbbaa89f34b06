/* SPDX-License-Identifier: Apache-2.0 */
/* routes_files.c - the files section of API.md and the read_file /
 * write_file tools. Paths are confined inside the slot (fileops.c); this
 * file validates parameters, bounds sizes and shapes answers. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/base64.h"
#include "common/util.h"
#include "sandbox/files.h"

#define FILE_OP_TIMEOUT_S 300.0
#define LIST_DEFAULT_ENTRIES 10000
#define LIST_MAX_ENTRIES 1000000

/* errno from the sandbox -> HTTP status and API code. */
void api_file_errno(int e, int *status, const char **code)
{
	switch (e) {
	case EXDEV:
	case ELOOP:
		*status = 403;
		*code = "path_outside_workspace";
		break;
	case ENOENT:
	case ENOTDIR:
		*status = 404;
		*code = "not_found";
		break;
	case EACCES:
	case EPERM:
	case EROFS:
		*status = 403;
		*code = "permission_denied";
		break;
	case EISDIR:
	case EINVAL:
	case ENAMETOOLONG:
		*status = 400;
		*code = "bad_request";
		break;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		*status = 507;
		*code = "insufficient_storage";
		break;
	default:
		*status = 500;
		*code = "internal";
	}
}

/* A file operation that could not be started (api_start_error). */
static void respond_start_error(struct http_request *req,
				const struct sb_err *err)
{
	int status;
	const char *code;
	api_start_error(err->sys_errno, &status, &code);
	http_respond_error(req, status, code, "%s", err->msg);
}

static const char *errno_text(int e)
{
	if (e == EXDEV || e == ELOOP)
		return "the path leaves the slot's workspace or root";
	if (e == EINVAL)
		return "not a regular file or not a valid file name";
	return strerror(e);
}

/* Who gets a file operation's answer: an HTTP request, or a file tool
 * running inside an exec call. */
struct answer_to {
	struct http_request *req;
	void (*tool_done)(void *ud, json_t *result, const char *code,
			  const char *why);
	void *tool_ud;
};

static void answer(const struct answer_to *to, json_t *result, int status,
		   const char *code, const char *msg)
{
	if (to->req) {
		if (result)
			http_respond_json(to->req, 200, result);
		else
			http_respond_error(to->req, status, code, "%s", msg);
	} else {
		to->tool_done(to->tool_ud, result, code, msg);
	}
}

/* ---- read ---- */

struct read_ctx {
	struct answer_to to;
	char path[SB_FILE_PATH_MAX];
	bool base64;
	size_t max_bytes;
	char *buf;
	size_t len;
	uint64_t file_size;
	uint64_t seen;
	int err;
	EVP_MD_CTX *sha;
};

static void read_header(void *ud, int err, uint64_t size)
{
	struct read_ctx *c = ud;
	c->err = err;
	c->file_size = size;
	if (err)
		return;
	size_t want = size < c->max_bytes ? (size_t)size : c->max_bytes;
	c->buf = malloc(want + 1);
	if (!c->buf)
		c->err = ENOMEM;
}

static void read_data(void *ud, const char *buf, size_t len)
{
	struct read_ctx *c = ud;
	if (c->err)
		return;
	if (c->sha)
		EVP_DigestUpdate(c->sha, buf, len);
	size_t cap = c->file_size < c->max_bytes ? (size_t)c->file_size
						 : c->max_bytes;
	size_t take = c->len < cap ? cap - c->len : 0;
	if (take > len)
		take = len;
	memcpy(c->buf + c->len, buf, take);
	c->len += take;
	c->seen += len;
}

/* What the slot sends: the whole file to hash it, else max_bytes. */
static uint64_t read_expected(const struct read_ctx *c)
{
	if (c->sha || c->file_size < c->max_bytes)
		return c->file_size;
	return c->max_bytes;
}

static json_t *read_result(struct read_ctx *c, bool *ok)
{
	json_t *o = json_object();
	json_t *content = NULL;
	bool as_b64 = c->base64;
	*ok = true;
	if (!as_b64) {
		bool lossy;
		content = sb_json_string_lossy(c->buf ? c->buf : "", c->len,
					       &lossy);
		if (lossy) {
			/* Not UTF-8: answer in base64 rather than lose
			 * bytes; "encoding" says so. */
			json_decref(content);
			content = NULL;
			as_b64 = true;
		}
	}
	if (as_b64) {
		char *enc = malloc(b64_encoded_len(c->len) + 1);
		if (!enc) {
			json_decref(o);
			*ok = false;
			return NULL;
		}
		b64_encode(c->buf ? c->buf : "", c->len, enc);
		content = json_string(enc);
		free(enc);
	}
	json_object_set_new(o, "path", json_string(c->path));
	json_object_set_new(o, "content", content);
	json_object_set_new(o, "encoding",
			    json_string(as_b64 ? "base64" : "text"));
	json_object_set_new(o, "bytes", json_integer((json_int_t)c->len));
	json_object_set_new(o, "file_size",
			    json_integer((json_int_t)c->file_size));
	json_object_set_new(o, "truncated",
			    json_boolean(c->len < c->file_size));
	if (c->sha) {
		unsigned char md[32];
		unsigned int n = 0;
		char hex[65];
		EVP_DigestFinal_ex(c->sha, md, &n);
		for (unsigned i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		json_object_set_new(o, "sha256", json_string(hex));
	} else {
		json_object_set_new(o, "sha256", json_null());
	}
	return o;
}

static void read_end(void *ud, int ok, const char *why)
{
	struct read_ctx *c = ud;
	json_t *result = NULL;
	int status = 500;
	const char *code = "internal";
	char msg[256];

	if (!ok) {
		status = 502;
		code = "sandbox_lost";
		snprintf(msg, sizeof msg, "%s", why);
	} else if (c->err) {
		api_file_errno(c->err, &status, &code);
		snprintf(msg, sizeof msg, "%s: %s", c->path,
			 errno_text(c->err));
	} else if (c->seen != read_expected(c)) {
		status = 409;
		code = "conflict";
		snprintf(msg, sizeof msg, "%s changed while it was read",
			 c->path);
	} else {
		bool built;
		result = read_result(c, &built);
		if (!built)
			snprintf(msg, sizeof msg, "out of memory");
	}
	answer(&c->to, result, status, code, msg);
	if (c->sha)
		EVP_MD_CTX_free(c->sha);
	free(c->buf);
	free(c);
}

static const struct file_op_cbs read_cbs = {read_header, read_data, read_end};

static int copy_path(char *dst, const char *src, struct sb_err *err, int status)
{
	if (!src || !*src || strlen(src) >= SB_FILE_PATH_MAX)
		return sb_err_api(err, status, status ? "bad_request" : NULL,
				  "path must be a non-empty string of at "
				  "most %d bytes",
				  SB_FILE_PATH_MAX - 1);
	snprintf(dst, SB_FILE_PATH_MAX, "%s", src);
	return 0;
}

/* Start a read; on failure returns -1 with err (sys_errno classifies it,
 * see api_start_error()). */
int api_read_start(struct sbx_slot *slot, struct http_request *req,
		   const char *path, bool base64, bool sha, size_t max_bytes,
		   void (*tool_done)(void *, json_t *, const char *,
				     const char *),
		   void *tool_ud, struct sb_err *err)
{
	struct read_ctx *c = calloc(1, sizeof *c);
	struct sb_file_req fr = {.magic = SB_FILE_MAGIC, .op = SB_FILE_READ};
	struct file_op *op;

	if (!c)
		return sb_err_set(err, errno, "out of memory");
	if (copy_path(c->path, path, err, 0) < 0) {
		free(c);
		return -1;
	}
	memcpy(fr.path, c->path, sizeof fr.path);
	c->to = (struct answer_to){req, tool_done, tool_ud};
	c->base64 = base64;
	c->max_bytes = max_bytes;
	/* sha256 is of the whole file: then the whole file is read */
	fr.read_limited = !sha;
	fr.read_limit = max_bytes;
	if (sha) {
		c->sha = EVP_MD_CTX_new();
		if (!c->sha || !EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL)) {
			int e = errno;
			EVP_MD_CTX_free(c->sha);
			free(c);
			return sb_err_set(err, e, "sha256 unavailable");
		}
	}
	/* exec's read_file tool (no request) is a call of the slot */
	if (slot_service_file(slot, &fr, NULL, 0, FILE_OP_TIMEOUT_S, !req,
			      &read_cbs, c, &op, err) < 0) {
		EVP_MD_CTX_free(c->sha);
		free(c);
		return -1;
	}
	return 0;
}

/* ---- write ---- */

struct write_ctx {
	struct answer_to to;
	char path[SB_FILE_PATH_MAX];
	char sha[65];
	int err;
	uint64_t bytes;
};

static void write_header(void *ud, int err, uint64_t size)
{
	struct write_ctx *c = ud;
	c->err = err;
	c->bytes = size;
}

static void write_data(void *ud, const char *buf, size_t len)
{
	(void)ud;
	(void)buf;
	(void)len;
}

static void write_end(void *ud, int ok, const char *why)
{
	struct write_ctx *c = ud;
	json_t *result = NULL;
	int status = 502;
	const char *code = "sandbox_lost";
	char msg[256];

	if (!ok) {
		snprintf(msg, sizeof msg, "%s", why);
	} else if (c->err) {
		api_file_errno(c->err, &status, &code);
		snprintf(msg, sizeof msg, "%s: %s", c->path,
			 errno_text(c->err));
	} else {
		result = json_pack("{s:s, s:I, s:s}", "path", c->path, "bytes",
				   (json_int_t)c->bytes, "sha256", c->sha);
	}
	answer(&c->to, result, status, code, msg);
	free(c);
}

static const struct file_op_cbs write_cbs = {write_header, write_data,
					     write_end};

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int api_write_start(struct sbx_slot *slot, struct http_request *req,
		    const char *path, const void *data, size_t len,
		    void (*tool_done)(void *, json_t *, const char *,
				      const char *),
		    void *tool_ud, struct sb_err *err)
{
	const struct sb_profile *p = slot->sb->profile;
	struct sb_file_req fr = {.magic = SB_FILE_MAGIC, .op = SB_FILE_WRITE};
	struct file_op *op;

	if ((int64_t)len > p->max_file_bytes)
		return sb_err_api(err, 413, "payload_too_large",
				  "%zu bytes is more than this profile's "
				  "max_file_bytes (%lld)",
				  len, (long long)p->max_file_bytes);
	struct write_ctx *c = calloc(1, sizeof *c);
	/* 500 has always been answered as sandbox_lost here */
	if (!c)
		return sb_err_api(err, 500, "sandbox_lost", "out of memory");
	if (copy_path(c->path, path, err, 400) < 0) {
		free(c);
		return -1;
	}
	memcpy(fr.path, c->path, sizeof fr.path);
	c->to = (struct answer_to){req, tool_done, tool_ud};
	sha256_hex(data, len, c->sha);
	if (slot_service_file(slot, &fr, data, len, FILE_OP_TIMEOUT_S, !req,
			      &write_cbs, c, &op, err) < 0) {
		free(c);
		api_start_error(err->sys_errno, &err->status, &err->code);
		return -1;
	}
	return 0;
}

/* ---- list ---- */

struct list_ctx {
	struct http_request *req;
	uint64_t max_entries;
	bool long_fmt;
	int err;
	char *buf;
	size_t len, cap;
	bool oom;
};

static void list_header(void *ud, int err, uint64_t size)
{
	struct list_ctx *c = ud;
	(void)size;
	c->err = err;
}

static void list_data(void *ud, const char *buf, size_t len)
{
	struct list_ctx *c = ud;
	if (c->oom)
		return;
	if (c->len + len > c->cap) {
		size_t ncap = c->cap ? c->cap : 65536;
		while (ncap < c->len + len)
			ncap *= 2;
		char *nb = realloc(c->buf, ncap);
		if (!nb) {
			c->oom = true;
			return;
		}
		c->buf = nb;
		c->cap = ncap;
	}
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
}

/* One record of the sandbox's listing (see fileops.c) as an entry: the
 * name, or {"path", "is_dir", "size", "mtime"} in the long form. NULL for
 * a garbled record. */
static json_t *list_entry(const char *rec, size_t len, bool long_fmt)
{
	if (!long_fmt)
		return sb_json_string_lossy(rec, len, NULL);
	/* "d|f SIZE SEC NSEC NAME", made by fileops.c: numbers, then the
	 * name after the fourth space */
	unsigned long long num[3];
	const char *p = rec + 2;
	char *end;
	if (len < 2 || (rec[0] != 'd' && rec[0] != 'f') || rec[1] != ' ')
		return NULL;
	for (int i = 0; i < 3; i++) {
		errno = 0;
		num[i] = strtoull(p, &end, 10);
		if (errno || end == p || *end != ' ')
			return NULL;
		p = end + 1;
	}
	if ((size_t)(p - rec) > len)
		return NULL;
	/* SEC is signed (a file may be older than 1970) */
	double mtime = (double)(long long)num[1] + (double)num[2] / 1e9;
	return json_pack("{s:o, s:b, s:I, s:f}", "path",
			 sb_json_string_lossy(p, len - (size_t)(p - rec), NULL),
			 "is_dir", rec[0] == 'd', "size", (json_int_t)num[0],
			 "mtime", mtime);
}

static void list_end(void *ud, int ok, const char *why)
{
	struct list_ctx *c = ud;
	int status;
	const char *code;

	if (!ok) {
		http_respond_error(c->req, 502, "sandbox_lost", "%s", why);
	} else if (c->err) {
		api_file_errno(c->err, &status, &code);
		http_respond_error(c->req, status, code, "%s",
				   errno_text(c->err));
	} else if (c->oom) {
		http_respond_error(c->req, 500, "internal", "out of memory");
	} else {
		json_t *entries = json_array();
		uint64_t n = 0;
		bool truncated = false;
		for (size_t i = 0; i < c->len;) {
			char *nul = memchr(c->buf + i, '\0', c->len - i);
			if (!nul)
				break;
			if (n == c->max_entries) {
				truncated = true;
				break;
			}
			json_t *entry = list_entry(c->buf + i,
						   (size_t)(nul - (c->buf + i)),
						   c->long_fmt);
			if (entry)
				json_array_append_new(entries, entry);
			n++;
			i = (size_t)(nul - c->buf) + 1;
		}
		json_t *o = json_object();
		json_object_set_new(o, "entries", entries);
		json_object_set_new(o, "truncated", json_boolean(truncated));
		http_respond_json(c->req, 200, o);
	}
	free(c->buf);
	free(c);
}

static const struct file_op_cbs list_cbs = {list_header, list_data, list_end};

/* ---- archive ---- */

struct archive_ctx {
	struct http_request *req;
	struct file_op *op;
	const char *content_type;
	uint64_t max_bytes, sent;
	int err;
	bool streaming;
};

static void archive_drain(struct http_request *req, void *ud)
{
	struct archive_ctx *c = ud;
	(void)req;
	if (c->op)
		file_op_resume(c->op);
}

static void archive_header(void *ud, int err, uint64_t size)
{
	struct archive_ctx *c = ud;
	(void)size;
	c->err = err;
	if (err)
		return;
	c->streaming = true;
	http_respond_stream_begin(c->req, 200, c->content_type, archive_drain,
				  c);
}

static void archive_data(void *ud, const char *buf, size_t len)
{
	struct archive_ctx *c = ud;
	if (!c->streaming)
		return;
	if (c->sent + len > c->max_bytes) {
		/* Over the bound: stop the producer; the stream ends early
		 * and the client sees a truncated archive. */
		len = (size_t)(c->max_bytes - c->sent);
		if (len)
			http_respond_stream_write(c->req, buf, len);
		c->sent = c->max_bytes;
		file_op_cancel(c->op, "max_bytes reached");
		return;
	}
	c->sent += len;
	int r = http_respond_stream_write(c->req, buf, len);
	if (r == 1)
		file_op_pause(c->op);
	else if (r < 0)
		file_op_cancel(c->op, "the client went away");
}

static void archive_end(void *ud, int ok, const char *why)
{
	struct archive_ctx *c = ud;
	int status;
	const char *code;
	c->op = NULL;
	if (c->streaming) {
		http_respond_stream_end(c->req);
	} else if (!ok) {
		http_respond_error(c->req, 502, "sandbox_lost", "%s", why);
	} else {
		api_file_errno(c->err, &status, &code);
		http_respond_error(c->req, status, code, "%s",
				   errno_text(c->err));
	}
	free(c);
}

static const struct file_op_cbs archive_cbs = {archive_header, archive_data,
					       archive_end};

/* ---- HTTP handlers ---- */

int api_archive_format(const char *name, uint32_t *format, const char **ctype)
{
	static const struct {
		const char *name, *ctype;
		uint32_t format;
	} formats[] = {
		{"tar", "application/x-tar", SB_ARCHIVE_TAR},
		{"tar.gz", "application/gzip", SB_ARCHIVE_TAR_GZ},
		{"tgz", "application/gzip", SB_ARCHIVE_TAR_GZ},
		{"zip", "application/zip", SB_ARCHIVE_ZIP},
	};
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		if (strcmp(name, formats[i].name) == 0) {
			*format = formats[i].format;
			*ctype = formats[i].ctype;
			return 0;
		}
	return -1;
}

static int query_u64(struct http_request *req, const char *name, uint64_t dflt,
		     uint64_t max, uint64_t *out)
{
	char v[32];
	int r = http_query_get(req->query, name, v, sizeof v);
	*out = dflt;
	if (r == 0)
		return 0;
	char *end;
	errno = 0;
	unsigned long long x = r > 0 && v[0] != '-' ? strtoull(v, &end, 10) : 0;
	if (r < 0 || v[0] == '-' || !v[0] || *end || errno || x > max) {
		http_respond_error(req, 400, "bad_request",
				   "%s must be an integer in [0, %llu]", name,
				   (unsigned long long)max);
		return -1;
	}
	*out = x;
	return 0;
}

/* path= parameter (required unless dflt). */
static int query_path(struct http_request *req, const char *dflt, char *out)
{
	int r = http_query_get(req->query, "path", out, SB_FILE_PATH_MAX);
	if (r == 0 && dflt) {
		snprintf(out, SB_FILE_PATH_MAX, "%s", dflt);
		return 0;
	}
	if (r <= 0 || !*out) {
		http_respond_error(req, 400, "bad_request",
				   "path is required (at most %d bytes)",
				   SB_FILE_PATH_MAX - 1);
		return -1;
	}
	return 0;
}

void api_file_get(struct http_request *req, struct sbx_slot *slot)
{
	char path[SB_FILE_PATH_MAX], enc[16];
	const struct sb_profile *p = slot->sb->profile;
	struct sb_err err;
	uint64_t max;
	bool sha;
	if (query_path(req, NULL, path) < 0 ||
	    query_u64(req, "max_bytes", (uint64_t)p->max_file_bytes,
		      (uint64_t)p->max_file_bytes, &max) < 0 ||
	    api_query_bool(req, "sha256", false, &sha) < 0)
		return;
	int r = http_query_get(req->query, "encoding", enc, sizeof enc);
	if (r == 0)
		snprintf(enc, sizeof enc, "text");
	if (r < 0 || (strcmp(enc, "text") && strcmp(enc, "base64"))) {
		http_respond_error(req, 400, "bad_request",
				   "encoding must be text or base64");
		return;
	}
	errno = 0;
	if (api_read_start(slot, req, path, strcmp(enc, "base64") == 0, sha,
			   (size_t)max, NULL, NULL, &err) < 0) {
		api_start_error(err.sys_errno, &err.status, &err.code);
		http_respond_error(req, err.status, err.code, "%s", err.msg);
	}
}

void api_file_put(struct http_request *req, struct sbx_slot *slot)
{
	char path[SB_FILE_PATH_MAX];
	struct sb_err err;
	if (query_path(req, NULL, path) < 0)
		return;
	if (api_write_start(slot, req, path, req->body, req->body_len, NULL,
			    NULL, &err) < 0)
		http_respond_error(req, err.status, err.code, "%s", err.msg);
}

void api_file_list(struct http_request *req, struct sbx_slot *slot)
{
	char path[SB_FILE_PATH_MAX];
	uint64_t max;
	bool recursive, long_fmt;
	struct sb_err err;
	struct file_op *op;
	if (query_path(req, ".", path) < 0 ||
	    api_query_bool(req, "recursive", false, &recursive) < 0 ||
	    api_query_bool(req, "long", false, &long_fmt) < 0 ||
	    query_u64(req, "max_entries", LIST_DEFAULT_ENTRIES,
		      LIST_MAX_ENTRIES, &max) < 0)
		return;
	struct list_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	c->req = req;
	c->max_entries = max;
	c->long_fmt = long_fmt;
	struct sb_file_req fr = {.magic = SB_FILE_MAGIC,
				 .op = SB_FILE_LIST,
				 .max_entries = max,
				 .recursive = recursive,
				 .list_long = long_fmt};
	memcpy(fr.path, path, sizeof fr.path);
	if (slot_service_file(slot, &fr, NULL, 0, FILE_OP_TIMEOUT_S, false,
			      &list_cbs, c, &op, &err) < 0) {
		free(c);
		respond_start_error(req, &err);
	}
}

void api_file_archive(struct http_request *req, struct sbx_slot *slot)
{
	char path[SB_FILE_PATH_MAX], fmt[16];
	uint64_t max;
	struct sb_err err;
	struct sb_file_req fr = {.magic = SB_FILE_MAGIC, .op = SB_FILE_ARCHIVE};
	if (query_path(req, ".", path) < 0 ||
	    query_u64(req, "max_bytes", UINT64_MAX / 2, UINT64_MAX / 2, &max) <
		    0)
		return;
	int r = http_query_get(req->query, "format", fmt, sizeof fmt);
	if (r == 0)
		snprintf(fmt, sizeof fmt, "tar.gz");
	const char *ctype;
	if (r < 0 || api_archive_format(fmt, &fr.format, &ctype) < 0) {
		http_respond_error(req, 400, "bad_request",
				   "format must be tar, tar.gz, tgz or zip");
		return;
	}
	struct archive_ctx *c = calloc(1, sizeof *c);
	if (!c) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	c->req = req;
	c->content_type = ctype;
	c->max_bytes = max;
	memcpy(fr.path, path, sizeof fr.path);
	if (slot_service_file(slot, &fr, NULL, 0, 3600.0, false, &archive_cbs,
			      c, &c->op, &err) < 0) {
		free(c);
		respond_start_error(req, &err);
	}
}
