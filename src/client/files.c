/* SPDX-License-Identifier: Apache-2.0 */
/* files.c - libslotbox's file calls: raw bytes up, base64 down (JSON
 * carries no raw bytes, and the read answer also says whether the file was
 * longer than what came back). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/base64.h"

/* "/v1/slots/<id>/file?path=<path><extra>", owned. */
static char *file_path(const char *slot_id, const char *path, const char *extra,
		       struct sbc_error *err)
{
	if (!slot_id || !*slot_id || !path || !*path) {
		sbc_fail(err, 0, "bad_argument",
			 "a slot id and a path are "
			 "required");
		return NULL;
	}
	char *id = sbc_path_escape(slot_id), *p = sbc_path_escape(path);
	char *url = NULL;
	if (!id || !p ||
	    asprintf(&url, "/v1/slots/%s/file?path=%s%s", id, p, extra) < 0)
		url = NULL;
	free(id);
	free(p);
	if (!url)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	return url;
}

static int decode_content(json_t *doc, char **data, size_t *len,
			  struct sbc_error *err)
{
	json_t *content = json_object_get(doc, "content");
	const char *text = json_string_value(content);
	if (!text)
		return sbc_fail(err, 200, "protocol",
				"read answered without content");
	size_t n = json_string_length(content);
	char *buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	long got = b64_decode(text, n, buf);
	if (got < 0) {
		free(buf);
		return sbc_fail(err, 200, "protocol",
				"read answered with bad base64");
	}
	buf[got] = '\0';
	*data = buf;
	*len = (size_t)got;
	return 0;
}

int sbc_read_file(struct sbc *c, const char *slot_id, const char *path,
		  size_t max_bytes, char **data, size_t *len, bool *truncated,
		  struct sbc_error *err)
{
	*data = NULL;
	*len = 0;
	char extra[64] = "&encoding=base64";
	if (max_bytes)
		snprintf(extra, sizeof extra, "&encoding=base64&max_bytes=%zu",
			 max_bytes);
	char *url = file_path(slot_id, path, extra, err);
	if (!url)
		return -1;
	json_t *doc = NULL;
	int rc = sbc_request_json(c, "GET", url, NULL, &doc, err);
	free(url);
	if (rc == 0)
		rc = decode_content(doc, data, len, err);
	if (rc == 0 && truncated)
		*truncated = json_is_true(json_object_get(doc, "truncated"));
	json_decref(doc);
	return rc;
}

int sbc_write_file(struct sbc *c, const char *slot_id, const char *path,
		   const void *data, size_t len, struct sbc_error *err)
{
	char *url = file_path(slot_id, path, "", err);
	if (!url)
		return -1;
	struct sbc_response resp;
	int rc = sbc_request(c, "PUT", url, data ? data : "", len,
			     "application/octet-stream", &resp, err);
	free(url);
	if (rc == 0 && (resp.status < 200 || resp.status >= 300))
		rc = sbc_fail_from_answer(&resp, err);
	sbc_response_free(&resp);
	return rc;
}
