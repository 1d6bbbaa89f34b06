/* SPDX-License-Identifier: Apache-2.0 */
/* wire_seeds.c - writes fuzz/corpus/wire/'s seeds from real encoded
 * messages: exec payloads made by sb_payload_encode(), one frame of
 * each message type as sb_msg_send() puts it on the wire, and init zygote
 * requests as sb_zygote_send_req() does (wire/zygote_msg.h).
 *
 *   ninja -C build fuzz/wire_seeds && build/fuzz/wire_seeds fuzz/corpus/wire
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/proto.h"
#include "wire/zygote_msg.h"

static int put(const char *dir, const char *name, unsigned char mode, int nfds,
	       const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	fputc(mode, f);
	if (nfds >= 0)
		fputc(nfds, f);
	fwrite(data, 1, len, f);
	return fclose(f);
}

static int payload(const char *dir, const char *name, const char *cwd,
		   char *const *argv, char *const *envp)
{
	char *buf;
	size_t len;
	if (sb_payload_encode(cwd, argv, envp, &buf, &len) < 0)
		return -1;
	int r = put(dir, name, 0, -1, buf, len);
	free(buf);
	return r;
}

/* A request's bytes: the header, then argv's strings back to back. */
static int zygote(const char *dir, const char *name, char *const *argv,
		  uint32_t fd_slots)
{
	struct sb_zygote_req h = {.magic = SB_ZYGOTE_MAGIC,
				  .clone_flags = 0x20000 | 0x20000000,
				  .fd_slots = fd_slots};
	char buf[sizeof h + 1024];
	size_t len = 0;
	for (; argv[h.argc]; h.argc++) {
		size_t k = strlen(argv[h.argc]) + 1;
		memcpy(buf + sizeof h + len, argv[h.argc], k);
		len += k;
	}
	h.len = (uint32_t)len;
	memcpy(buf, &h, sizeof h);
	return put(dir, name, 2, __builtin_popcount(fd_slots), buf,
		   sizeof h + len);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		uint32_t type;
		int nfds;
	} frames[] = {
		{"frame_hello", SB_MSG_HELLO, 0},
		{"frame_slot_channel", SB_MSG_SLOT_CHANNEL, 1},
		{"frame_slot_release", SB_MSG_SLOT_RELEASE, 0},
		{"frame_failed", SB_MSG_FAILED, 0},
		{"frame_exec", SB_MSG_EXEC, 4},
		{"frame_kill", SB_MSG_KILL, 0},
		{"frame_exec_done", SB_MSG_EXEC_DONE, 0},
		{"frame_file", SB_MSG_FILE, 3},
		{"frame_cgroups", SB_MSG_CGROUPS, 3},
		{"frame_seed_ready", SB_MSG_SEED_READY, 0},
		{"frame_seed_done", SB_MSG_SEED_DONE, 0},
		{"frame_recycle", SB_MSG_RECYCLE, 0},
		{"frame_netns", SB_MSG_NETNS, 1},
		{"frame_signal", SB_MSG_SIGNAL, 0},
		{"frame_exec_started", SB_MSG_EXEC_STARTED, 0},
		{"frame_pty_open", SB_MSG_PTY_OPEN, 0},
		{"frame_pty", SB_MSG_PTY, 2},
	};
	char *bash[] = {"/bin/bash", "-c", "echo hi; ls /workspace", NULL};
	char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/workspace",
		       "LANG=C.UTF-8", "TERM=xterm", NULL};
	char *one[] = {"/bin/true", NULL};
	char *none[] = {NULL};
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	int rc = 0;
	rc |= payload(dir, "payload_bash", "/workspace", bash, env);
	rc |= payload(dir, "payload_bare", "/", one, none);
	for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
		struct sb_msg m = {
			.type = frames[i].type, .slot = 3, .id = 42, .gen = 1};
		if (m.type == SB_MSG_FAILED)
			snprintf(m.text, sizeof m.text, "%s",
				 "mount /proc: Operation not permitted");
		if (m.type == SB_MSG_EXEC_DONE) {
			m.status = 256;
			m.cpu_user_us = 1500;
			m.max_rss_kib = 4096;
		}
		if (m.type == SB_MSG_HELLO)
			m.flags = SB_HELLO_RECYCLES | SB_HELLO_PROCESSES;
		rc |= put(dir, frames[i].name, 1, frames[i].nfds, &m, sizeof m);
	}
	char *init[] = {"/usr/libexec/slotbox/slotbox-init",
			"--id",
			"p-1a2b",
			"--scratch",
			"/var/lib/slotbox/sandboxes/p-1a2b",
			"--slots",
			"10",
			"--seccomp-fd",
			"5",
			NULL};
	rc |= zygote(dir, "zygote_init", init, 0xf);
	rc |= zygote(dir, "zygote_two_fds", one, 0x5);
	if (rc) {
		perror("wire_seeds");
		return 1;
	}
	return 0;
}
