/* SPDX-License-Identifier: Apache-2.0 */
/* files.h - file tools seen from the daemon.
 *
 * A file operation is sent to the slot's leader, which forks a child
 * running as the slot's uid (fileops.c). The child's reply header and data
 * come back through a pipe that this module reads on the event loop and
 * hands to the caller chunk by chunk, so no file or archive is ever held
 * whole in the daemon unless the caller chooses to keep it. */
#ifndef SLOTBOX_SANDBOX_FILES_H
#define SLOTBOX_SANDBOX_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "wire/proto.h"

struct sbx_slot;
struct file_op;

struct file_op_cbs {
	/* The child's verdict: err is an errno (0 = go on), size as in
	 * struct sb_file_reply. Data (if any) follows. */
	void (*header)(void *ud, int err, uint64_t size);
	void (*data)(void *ud, const char *buf, size_t len);
	/* Always called once, last: ok = 1 when the child finished cleanly
	 * (its pipe reached EOF after a header), 0 when it died, timed out
	 * or was cancelled. The op is freed after this returns. */
	void (*end)(void *ud, int ok, const char *why);
};

/* Start req on slot with in_data (SB_FILE_WRITE) in a sealed memfd. */
int file_op_start(struct sbx_slot *slot, const struct sb_file_req *req,
		  const void *in_data, size_t in_len, double timeout_s,
		  const struct file_op_cbs *cbs, void *ud, struct file_op **out,
		  struct sb_err *err);

/* Back-pressure: stop/restart reading the child's pipe. */
void file_op_pause(struct file_op *op);
void file_op_resume(struct file_op *op);

/* Stop now: end(ud, 0, why) follows (never from inside this call's
 * callers' stack if they are themselves in a callback of this op). */
void file_op_cancel(struct file_op *op, const char *why);

#endif
