/* SPDX-License-Identifier: Apache-2.0 */
/* slot_pty.c - terminals asked of a slot's leader (slot_pty.h). */
#include "sandbox/slot_pty.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "sandbox/sandbox.h"
#include "wire/proto.h"

#define SLOT_PTY_WAIT_MS 5000

struct pty_req {
	struct pty_req *next;
	struct sbx_slot *slot; /* NULL once answered */
	uint64_t id;
	slot_pty_fn cb;
	void *ud;
	uv_timer_t timer;
};

static struct pty_req *pending;
static uint64_t next_id = 1;

static void req_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Unlink r, answer it and let it go. */
static void answer(struct pty_req *r, int master, int slave, int err)
{
	for (struct pty_req **pp = &pending; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->slot = NULL;
	uv_timer_stop(&r->timer);
	r->cb(r->ud, master, slave, err);
	uv_close((uv_handle_t *)&r->timer, req_closed);
}

static void timer_cb(uv_timer_t *t)
{
	answer(t->data, -1, -1, ENOSYS);
}

int slot_pty_open(struct sbx_slot *slot, unsigned rows, unsigned cols,
		  slot_pty_fn cb, void *ud, struct sb_err *err)
{
	if (!slot->chan)
		return sb_err_set(err, ENOTCONN, "the slot is not running");
	struct pty_req *r = calloc(1, sizeof *r);
	if (!r)
		return sb_err_set(err, ENOMEM, "out of memory");
	r->slot = slot;
	r->id = next_id++;
	r->cb = cb;
	r->ud = ud;
	struct sb_msg m = {
		.type = SB_MSG_PTY_OPEN,
		.slot = (uint32_t)slot->index,
		.id = r->id,
		.status = (int32_t)((rows & 0xffffu) << 16 | (cols & 0xffffu))};
	if (sandbox_slot_send(slot, &m, NULL, 0) < 0) {
		free(r);
		return sb_err_sys(err, "ask the sandbox for a terminal");
	}
	uv_timer_init(slot->sb->env->loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, timer_cb, SLOT_PTY_WAIT_MS, 0);
	r->next = pending;
	pending = r;
	return 0;
}

void slot_pty_on_reply(const struct sbx_slot *slot, const struct sb_msg *m,
		       int *fds, size_t nfds)
{
	struct pty_req *r = pending;
	while (r && (r->slot != slot || r->id != m->id))
		r = r->next;
	if (!r)
		return;
	if (nfds == 2 && m->sys_errno == 0) {
		int master = fds[0], slave = fds[1];
		fds[0] = fds[1] = -1;
		answer(r, master, slave, 0);
	} else {
		answer(r, -1, -1, m->sys_errno ? m->sys_errno : EPROTO);
	}
}

void slot_pty_fail_all(const struct sbx_slot *slot)
{
	/* from the list's head each time: a callback may change it */
	for (;;) {
		struct pty_req *r = pending;
		while (r && r->slot != slot)
			r = r->next;
		if (!r)
			return;
		answer(r, -1, -1, EPIPE);
	}
}
