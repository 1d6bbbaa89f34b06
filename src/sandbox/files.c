/* SPDX-License-Identifier: Apache-2.0 */
#include "sandbox/files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/util.h"
#include "sandbox/exec.h"
#include "sandbox/sandbox.h"

#define FILE_READ_CHUNK 65536

struct file_op {
	uv_pipe_t pipe;
	uv_timer_t timer;
	struct file_op_cbs cbs;
	void *ud;
	struct sb_file_reply hdr;
	size_t hdr_got;
	int handles;
	int ended;
	pid_t init_pid; /* its sandbox's init (pid, start time) */
	uint64_t init_start;
	char buf[FILE_READ_CHUNK];
};

static void op_closed(uv_handle_t *h)
{
	struct file_op *op = h->data;
	if (--op->handles == 0)
		free(op);
}

static void op_end(struct file_op *op, int ok, const char *why)
{
	if (op->ended)
		return;
	op->ended = 1;
	uv_timer_stop(&op->timer);
	uv_read_stop((uv_stream_t *)&op->pipe);
	op->cbs.end(op->ud, ok, why);
	uv_close((uv_handle_t *)&op->pipe, op_closed);
	uv_close((uv_handle_t *)&op->timer, op_closed);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct file_op *op = h->data;
	(void)hint;
	*b = uv_buf_init(op->buf, sizeof op->buf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct file_op *op = s->data;
	const char *p = b->base;
	size_t len = n > 0 ? (size_t)n : 0;

	if (n < 0) {
		if (op->hdr_got < sizeof op->hdr)
			op_end(op, 0, "the sandbox gave no answer");
		else if (!sb_proc_running(op->init_pid, op->init_start))
			/* cut short by its sandbox's death (the loop may not
			 * have heard yet): not a file that changed */
			op_end(op, 0, "the sandbox is gone");
		else
			op_end(op, 1, NULL);
		return;
	}
	if (op->hdr_got < sizeof op->hdr) {
		size_t take = sizeof op->hdr - op->hdr_got;
		if (take > len)
			take = len;
		memcpy((char *)&op->hdr + op->hdr_got, p, take);
		op->hdr_got += take;
		p += take;
		len -= take;
		if (op->hdr_got < sizeof op->hdr)
			return;
		if (op->hdr.magic != SB_FILE_MAGIC) {
			op_end(op, 0, "garbled answer from the sandbox");
			return;
		}
		op->cbs.header(op->ud, op->hdr.err, op->hdr.size);
		if (op->ended)
			return;
	}
	if (len)
		op->cbs.data(op->ud, p, len);
}

static void timer_cb(uv_timer_t *t)
{
	op_end(t->data, 0, "the file operation timed out");
}

int file_op_start(struct sbx_slot *slot, const struct sb_file_req *req,
		  const void *in_data, size_t in_len, double timeout_s,
		  const struct file_op_cbs *cbs, void *ud, struct file_op **out,
		  struct sb_err *err)
{
	int fds[3] = {-1, -1, -1};
	int pipefd[2] = {-1, -1};
	struct file_op *op = NULL;

	*out = NULL;
	if (!slot->chan)
		return sb_err_set(err, ENOTCONN, "the slot is not running");
	/* The leader does it, and what it writes is the slot's: the slot's
	 * memory and cpu limits first, as for a call (slot_limits.c). */
	if (sandbox_slot_limits_on(slot, err) < 0)
		return -1;
	fds[0] = sb_sealed_memfd("slotbox-file-req", req, sizeof *req, err);
	if (fds[0] < 0)
		goto fail;
	if (in_data) {
		fds[1] = sb_sealed_memfd("slotbox-file-data", in_data, in_len,
					 err);
		if (fds[1] < 0)
			goto fail;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		sb_err_sys(err, "pipe");
		goto fail;
	}
	op = calloc(1, sizeof *op);
	if (!op) {
		sb_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	op->cbs = *cbs;
	op->ud = ud;
	op->init_pid = slot->sb->pid;
	op->init_start = slot->sb->start_time;
	uv_loop_t *loop = slot->sb->env->loop;
	uv_pipe_init(loop, &op->pipe, 0);
	uv_timer_init(loop, &op->timer);
	op->pipe.data = op->timer.data = op;
	op->handles = 2;
	if (uv_pipe_open(&op->pipe, pipefd[0]) < 0) {
		sb_err_set(err, EIO, "cannot watch the file pipe");
		close(pipefd[0]);
		goto fail_op;
	}
	pipefd[0] = -1;
	fds[2] = pipefd[1];
	int send[3] = {fds[0], fds[1] >= 0 ? fds[1] : slot->sb->env->devnull,
		       fds[2]};
	struct sb_msg m = {.type = SB_MSG_FILE,
			   .slot = (uint32_t)slot->index,
			   .flags = req->op};
	if (sandbox_slot_send(slot, &m, send, 3) < 0) {
		sb_err_sys(err, "send the file operation to the sandbox");
		goto fail_op;
	}
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	uv_read_start((uv_stream_t *)&op->pipe, alloc_cb, read_cb);
	uv_timer_start(&op->timer, timer_cb, (uint64_t)(timeout_s * 1000.0) + 1,
		       0);
	*out = op;
	/* on its way: the next slot's first-call group now (slot_limits.c) */
	sandbox_slot_limits_ahead(slot);
	return 0;
fail_op:
	op->ended = 1;
	uv_close((uv_handle_t *)&op->pipe, op_closed);
	uv_close((uv_handle_t *)&op->timer, op_closed);
fail:
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0 && pipefd[1] != fds[2])
		close(pipefd[1]);
	return -1;
}

void file_op_pause(struct file_op *op)
{
	if (!op->ended)
		uv_read_stop((uv_stream_t *)&op->pipe);
}

void file_op_resume(struct file_op *op)
{
	if (!op->ended)
		uv_read_start((uv_stream_t *)&op->pipe, alloc_cb, read_cb);
}

void file_op_cancel(struct file_op *op, const char *why)
{
	op_end(op, 0, why);
}
