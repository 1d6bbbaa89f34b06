/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz.h - what every fuzz target and its two mains share.
 *
 * A target is one file defining LLVMFuzzerTestOneInput (and optionally
 * LLVMFuzzerInitialize). Built with clang and -fsanitize=fuzzer it is a
 * libFuzzer binary (scripts/fuzz); built normally it links replay_main.c
 * and `meson test` runs it over its corpus in fuzz/corpus/<target>/. A
 * target reports a finding by aborting (FUZZ_CHECK), so both builds and
 * the sanitizers treat it like a crash. */
#ifndef SLOTBOX_FUZZ_FUZZ_H
#define SLOTBOX_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test; a violation is a finding. */
#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* A setup step of the harness itself failed: not a finding, but nothing
 * can be tested either. */
#define FUZZ_SETUP(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			perror("fuzz setup: " #cond);                          \
			exit(2);                                               \
		}                                                              \
	} while (0)

/* A fresh scratch directory for this process (under $TMPDIR, else
 * /dev/shm, a tmpfs, else /tmp), removed at exit. Returns its path. */
const char *fuzz_scratch(const char *name);

/* Nothing escaped a tree under test: top holds only the NULL-terminated
 * top_names, outside (a sibling of the tree) only its 6-byte "canary",
 * unchanged. A finding otherwise. */
void fuzz_check_outside(const char *top, const char *const *top_names,
			const char *outside);

#endif
