/* SPDX-License-Identifier: Apache-2.0 */
/* slot_service_exec.c - starting and ending calls (slot_service.h): the
 * only way from the API to a slot's leader, and the place where a call
 * moves the slot's state and reaches the metrics. */
#include "pool/metrics.h"
#include "pool/pool.h"
#include "pool/slot_service.h"

int slot_service_exec(struct sbx_slot *slot, const struct exec_spec *spec,
		      bool as_call, exec_done_fn done, void *ud,
		      struct exec_call **call, struct sb_err *err)
{
	if (exec_start(slot, spec, done, ud, call, err) < 0)
		return -1;
	if (as_call)
		pool_slot_exec_begin(slot);
	return 0;
}

int slot_service_pty_open(struct sbx_slot *slot, unsigned rows, unsigned cols,
			  bool as_call, slot_pty_fn cb, void *ud,
			  struct sb_err *err)
{
	if (slot_pty_open(slot, rows, cols, cb, ud, err) < 0)
		return -1;
	if (as_call)
		pool_slot_exec_begin(slot);
	return 0;
}

int slot_service_file(struct sbx_slot *slot, const struct sb_file_req *req,
		      const void *in_data, size_t in_len, double timeout_s,
		      bool as_call, const struct file_op_cbs *cbs, void *ud,
		      struct file_op **op, struct sb_err *err)
{
	if (file_op_start(slot, req, in_data, in_len, timeout_s, cbs, ud, op,
			  err) < 0)
		return -1;
	if (as_call)
		pool_slot_exec_begin(slot);
	return 0;
}

void slot_service_call_end(struct sbx_slot *slot)
{
	pool_slot_exec_end(slot);
}

void slot_service_cancel(struct exec_call *call)
{
	exec_cancel(call);
}

void slot_service_signal(struct exec_call *call, int sig)
{
	exec_signal(call, sig);
}

void slot_service_resume_output(struct exec_call *call)
{
	exec_resume_output(call);
}

void slot_service_call_metrics(const char *profile, const char *tool,
			       const char *error_class, bool truncated,
			       double seconds)
{
	metrics_call(profile, tool, error_class, truncated);
	metrics_observe(MH_EXEC, profile, seconds);
}
