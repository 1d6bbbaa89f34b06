/* SPDX-License-Identifier: Apache-2.0 */
/* tarfix.h - make a mutated tar's header checksums right again.
 *
 * Nearly every mutation of a tar header breaks its checksum, and
 * libarchive then stops at "damaged tar archive" before any of slotbox's
 * checks: the archive targets fix the checksums of the headers they can
 * find (when the input asks for it), so that mutations reach the code
 * under test. */
#ifndef SLOTBOX_FUZZ_TARFIX_H
#define SLOTBOX_FUZZ_TARFIX_H

#include <stddef.h>
#include <stdint.h>

/* Walk buf as a sequence of 512-byte tar headers and their data, and
 * rewrite each header's checksum field. */
void tar_fix_checksums(uint8_t *buf, size_t len);

#endif
