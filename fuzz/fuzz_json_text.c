/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_json_text.c - the daemon's compact JSON writer (json_compact.c),
 * which writes every answer, against jansson's own writer.
 *
 * Input: any bytes, parsed by jansson as any value (NUL allowed inside
 * strings). For every object or array it gives, checks: the compact text
 * is byte for byte what jansson's writer gives through json_text.c (the
 * flag JSON_PRESERVE_ORDER, which jansson has ignored since 2.8, sends
 * sb_json_dumps down that path instead), and it parses back to an equal
 * tree (reals in their shortest form still read back as the same
 * double). */
#include <jansson.h>
#include <string.h>

#include "common/json_text.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *doc = json_loadb((const char *)data, size,
				 JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!doc || !(json_is_object(doc) || json_is_array(doc))) {
		json_decref(doc);
		return 0;
	}
	char *fast = sb_json_dumps(doc, JSON_COMPACT);
	char *ref = sb_json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	FUZZ_CHECK(ref != NULL, "jansson could not write a tree it parsed");
	FUZZ_CHECK(fast != NULL, "no text; jansson's: %s", ref);
	FUZZ_CHECK(strcmp(fast, ref) == 0, "\n  compact: %s\n  jansson: %s",
		   fast, ref);
	json_t *back = json_loads(fast, JSON_ALLOW_NUL, &jerr);
	FUZZ_CHECK(back && json_equal(doc, back), "%s does not read back: %s",
		   fast, back ? "unequal" : jerr.text);
	json_decref(back);
	free(fast);
	free(ref);
	json_decref(doc);
	return 0;
}
