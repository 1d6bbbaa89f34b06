/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_wire.c - the daemon <-> init/leader wire protocol's decoders
 * (src/wire/proto.c), as the daemon reads what a sandbox sends and as
 * a slot's leader reads an exec payload.
 *
 * Input: a mode byte. Bit 0 clear: the rest is an exec payload for
 * sb_payload_decode(). Bit 1 set (bit 0 clear): the same as a frame, read
 * as an init zygote request with sb_zygote_recv_req(). Bit 0 set: the
 * next byte is a count of descriptors
 * (mod 9) and the rest one SOCK_SEQPACKET frame, sent raw (up to 4096
 * bytes) with that many copies of a pipe's write end, then read with
 * sb_msg_recv().
 *
 * Checks: a payload decodes only when well formed, into strings that lie
 * inside the buffer, argv[0] present, and encodes back (sb_payload_encode)
 * to exactly the input (but the header's reserved field, ignored); a refused
 * one is EPROTO and leaves nothing allocated. A frame is a message only when it
 * is exactly one struct sb_msg with at most SB_MSG_MAX_FDS descriptors,
 * received as sent (text NUL-terminated), with the same descriptors in order;
 * anything else is EPROTO with no descriptor left open (the pipe reaches EOF
 * once the test closes the received copies). Seeds: fuzz/wire_seeds.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "wire/proto.h"
#include "wire/zygote_msg.h"

#define FRAME_MAX 4096
#define RAW_FDS_MAX 8

static void fuzz_payload(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so ASan sees any read past the end */
	char *buf = malloc(size ? size : 1);
	FUZZ_SETUP(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	struct sb_payload p;
	errno = 0;
	if (sb_payload_decode(buf, size, &p) < 0) {
		FUZZ_CHECK(errno == EPROTO, "errno %d", errno);
		FUZZ_CHECK(!p.argv && !p.envp, "refused but allocated");
		free(buf);
		return;
	}
	FUZZ_CHECK(p.cwd && p.argv && p.envp && p.argv[0], "incomplete");
	const char *end = buf + size;
	FUZZ_CHECK(p.cwd >= buf && p.cwd < end, "cwd outside");
	FUZZ_CHECK(memchr(p.cwd, '\0', (size_t)(end - p.cwd)), "cwd unended");
	for (char **v = p.argv; *v; v++)
		FUZZ_CHECK(*v >= buf && *v < end &&
				   memchr(*v, '\0', (size_t)(end - *v)),
			   "argv outside");
	for (char **v = p.envp; *v; v++)
		FUZZ_CHECK(*v >= buf && *v < end &&
				   memchr(*v, '\0', (size_t)(end - *v)),
			   "envp outside");
	char *again;
	size_t len;
	FUZZ_CHECK(sb_payload_encode(p.cwd, p.argv, p.envp, &again, &len) == 0,
		   "decoded payload does not encode: errno %d", errno);
	/* the header's reserved field is written 0 and ignored on read */
	struct sb_payload_hdr h;
	memcpy(&h, buf, sizeof h);
	h.reserved = 0;
	memcpy(buf, &h, sizeof h);
	FUZZ_CHECK(len == size && memcmp(again, buf, size) == 0,
		   "re-encoded %zu bytes differ from %zu decoded", len, size);
	free(again);
	sb_payload_free(&p);
	free(buf);
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The input's first byte (mod RAW_FDS_MAX + 1) is a count of descriptors,
 * the rest (up to FRAME_MAX) one raw SOCK_SEQPACKET frame, sent with that
 * many copies of a pipe's write end: *data, *size and *nfds say what was
 * sent, *rd is the receiving socket, *pipe_rd the pipe's read end (EOF
 * once every copy is closed). False on an empty input. */
static bool send_raw(const uint8_t *in, size_t in_size, const uint8_t **data,
		     size_t *size, size_t *nfds, int *rd, int *pipe_rd)
{
	if (in_size < 1)
		return false;
	*nfds = in[0] % (RAW_FDS_MAX + 1);
	*data = in + 1;
	*size = in_size - 1 > FRAME_MAX ? FRAME_MAX : in_size - 1;
	int sv[2], pp[2];
	FUZZ_SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ==
		   0);
	FUZZ_SETUP(pipe2(pp, O_CLOEXEC) == 0);
	union {
		char buf[CMSG_SPACE(sizeof(int) * RAW_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)*data, .iov_len = *size};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	memset(&ctl, 0, sizeof ctl);
	if (*nfds) {
		int raw[RAW_FDS_MAX] = {0};
		for (size_t i = 0; i < *nfds; i++)
			raw[i] = pp[1];
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * *nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * *nfds);
		memcpy(CMSG_DATA(c), raw, sizeof(int) * *nfds);
	}
	FUZZ_SETUP(sendmsg(sv[0], &mh, MSG_NOSIGNAL) == (ssize_t)*size);
	close(pp[1]);
	close(sv[0]);

	*rd = sv[1];
	*pipe_rd = pp[0];
	return true;
}

static void fuzz_frame(const uint8_t *in, size_t in_size)
{
	const uint8_t *data;
	size_t size, nfds;
	int rd, pipe_rd;
	if (!send_raw(in, in_size, &data, &size, &nfds, &rd, &pipe_rd))
		return;
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t got = 99;
	errno = 0;
	int r = sb_msg_recv(rd, &m, fds, &got);
	bool good = size == sizeof m && nfds <= SB_MSG_MAX_FDS;
	if (size == 0 && nfds == 0) {
		/* an empty frame reads as the end of the channel */
		FUZZ_CHECK(r == 0 && got == 0, "empty frame: %d", r);
	} else if (good) {
		FUZZ_CHECK(r == 1, "a well-formed frame refused: errno %d",
			   errno);
		FUZZ_CHECK(got == nfds, "%zu fds of %zu", got, nfds);
		FUZZ_CHECK(m.text[sizeof m.text - 1] == '\0', "text unended");
		FUZZ_CHECK(memcmp(&m, data, sizeof m - 1) == 0,
			   "message differs from the frame");
		for (size_t i = 0; i < got; i++) {
			FUZZ_CHECK(
				same_file(fds[i], pipe_rd) &&
					(fcntl(fds[i], F_GETFD) & FD_CLOEXEC),
				"fd %zu", i);
			close(fds[i]);
		}
	} else {
		FUZZ_CHECK(r == -1 && errno == EPROTO,
			   "a %zu-byte frame with %zu fds: %d, errno %d", size,
			   nfds, r, errno);
		FUZZ_CHECK(got == 0, "refused frame left %zu fds", got);
	}
	/* every copy of the pipe's write end is closed */
	char c;
	FUZZ_CHECK(read(pipe_rd, &c, 1) == 0, "a descriptor leaked");
	close(pipe_rd);
	close(rd);
}

/* A zygote request (wire/zygote_msg.h), as the zygote reads the daemon's:
 * accepted only when it is one header, argc NUL-terminated strings
 * filling len exactly, and one descriptor per fd slot; then argv lies in
 * the buffer and each slot's descriptor is the pipe, close-on-exec.
 * Anything else is EPROTO with every descriptor closed. */
static char zygote_buf[sizeof(struct sb_zygote_req) + SB_ZYGOTE_ARGS_MAX];
static char *zygote_argv[SB_ZYGOTE_ARGC_MAX + 1];

static void fuzz_zygote(const uint8_t *in, size_t in_size)
{
	const uint8_t *data;
	size_t size, nfds;
	int rd, pipe_rd, fds[SB_ZYGOTE_FD_COUNT];
	if (!send_raw(in, in_size, &data, &size, &nfds, &rd, &pipe_rd))
		return;
	errno = 0;
	int r = sb_zygote_recv_req(rd, zygote_buf, sizeof zygote_buf,
				   zygote_argv, fds);
	if (size == 0 && nfds == 0) {
		FUZZ_CHECK(r == 0, "empty frame: %d", r);
	} else if (r == 1) {
		struct sb_zygote_req h;
		memcpy(&h, zygote_buf, sizeof h);
		FUZZ_CHECK(size == sizeof h + h.len && h.argc >= 1,
			   "accepted %zu bytes, len %u", size, h.len);
		const char *lo = zygote_buf + sizeof h, *hi = lo + h.len;
		for (uint32_t i = 0; i < h.argc; i++)
			FUZZ_CHECK(
				zygote_argv[i] >= lo && zygote_argv[i] < hi &&
					memchr(zygote_argv[i], '\0',
					       (size_t)(hi - zygote_argv[i])),
				"argv[%u] outside", i);
		FUZZ_CHECK(zygote_argv[h.argc] == NULL, "argv unended");
		size_t n = 0;
		for (int i = 0; i < SB_ZYGOTE_FD_COUNT; i++) {
			if (!(h.fd_slots & (1u << i))) {
				FUZZ_CHECK(fds[i] == -1, "slot %d filled", i);
				continue;
			}
			FUZZ_CHECK(
				same_file(fds[i], pipe_rd) &&
					(fcntl(fds[i], F_GETFD) & FD_CLOEXEC),
				"fd slot %d", i);
			close(fds[i]);
			n++;
		}
		FUZZ_CHECK(n == nfds, "%zu fds of %zu", n, nfds);
	} else {
		FUZZ_CHECK(r == -1 && errno == EPROTO,
			   "a %zu-byte request with %zu fds: %d, errno %d",
			   size, nfds, r, errno);
		for (int i = 0; i < SB_ZYGOTE_FD_COUNT; i++)
			FUZZ_CHECK(fds[i] == -1, "refused but fd slot %d", i);
	}
	char c;
	FUZZ_CHECK(read(pipe_rd, &c, 1) == 0, "a descriptor leaked");
	close(pipe_rd);
	close(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_frame(data + 1, size - 1);
	else if (data[0] & 2)
		fuzz_zygote(data + 1, size - 1);
	else
		fuzz_payload(data + 1, size - 1);
	return 0;
}
