/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_base64.c - the strict base64 codec (write_file's content, file
 * reads of binary data, the C client).
 *
 * Checks both directions: any input decodes either to -1 or to bytes that
 * encode back to exactly the input (the decoder accepts canonical base64
 * only), and any bytes encode to text that decodes back to them. */
#include <string.h>

#include "common/base64.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact sizes, so ASan sees any write past what the API promises */
	uint8_t *dec = malloc(size / 4 * 3 + 1);
	FUZZ_SETUP(dec != NULL);
	long n = b64_decode((const char *)data, size, dec);
	if (n >= 0) {
		FUZZ_CHECK((size_t)n <= size / 4 * 3, "decoded %ld bytes", n);
		char *enc = malloc(b64_encoded_len((size_t)n) + 1);
		FUZZ_SETUP(enc != NULL);
		b64_encode(dec, (size_t)n, enc);
		FUZZ_CHECK(strlen(enc) == size && memcmp(enc, data, size) == 0,
			   "not canonical: %.*s -> %s", (int)size, data, enc);
		free(enc);
	}
	free(dec);

	size_t elen = b64_encoded_len(size);
	char *enc = malloc(elen + 1);
	uint8_t *back = malloc(elen / 4 * 3 + 1);
	FUZZ_SETUP(enc && back);
	b64_encode(data, size, enc);
	FUZZ_CHECK(strlen(enc) == elen, "encoded %zu of %zu", strlen(enc),
		   elen);
	n = b64_decode(enc, elen, back);
	FUZZ_CHECK(n == (long)size && memcmp(back, data, size) == 0,
		   "round trip of %zu bytes gave %ld", size, n);
	free(enc);
	free(back);
	return 0;
}
