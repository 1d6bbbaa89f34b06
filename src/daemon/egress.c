/* SPDX-License-Identifier: Apache-2.0 */
/* egress.c - load and remove the egress table (egress.h) with libnftables,
 * and turn on IPv4 forwarding in the daemon's network namespace. */
#include "daemon/egress.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"

#ifdef SLOTBOX_HAVE_EGRESS
#include <nftables/libnftables.h>

#define RULESET_MAX (1u << 20)

/* Run nft commands; on failure err holds the first line of nft's error. */
static int nft_run(const char *text, struct sb_err *err)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return sb_err_set(err, ENOMEM, "libnftables: out of memory");
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	int r = nft_run_cmd_from_buffer(ctx, text);
	if (r != 0) {
		const char *e = nft_ctx_get_error_buffer(ctx);
		sb_err_set(err, EIO, "%.*s", (int)strcspn(e ? e : "", "\n"),
			   e ? e : "");
	}
	nft_ctx_free(ctx);
	return r == 0 ? 0 : -1;
}

static int forwarding_on(void)
{
	_cleanup_fd_ int fd =
		open("/proc/sys/net/ipv4/ip_forward", O_RDWR | O_CLOEXEC);
	char c = '0';
	if (fd < 0 || read(fd, &c, 1) != 1)
		return -1;
	if (c == '1')
		return 0;
	return pwrite(fd, "1\n", 2, 0) == 2 ? 0 : -1;
}

int egress_apply(const struct egress *e, const struct sb_config *cfg,
		 struct sb_err *err)
{
	struct sb_err why;
	if (!e->on)
		return 0;
	char *text = malloc(RULESET_MAX);
	if (!text)
		return sb_err_set(err, ENOMEM, "out of memory");
	if (egress_ruleset(e, cfg, text, RULESET_MAX) < 0) {
		free(text);
		return sb_err_set(err, E2BIG, "egress ruleset too large");
	}
	int r = nft_run(text, &why);
	free(text);
	if (r < 0)
		return sb_err_set(err, EIO, "nftables table inet %s: %s",
				  e->table, why.msg);
	if (forwarding_on() < 0) {
		int saved = errno;
		egress_remove(e);
		return sb_err_set(err, saved, "net.ipv4.ip_forward: %s",
				  strerror(saved));
	}
	char net[SB_CIDR_TEXT_MAX];
	sb_cidr_format(&e->net, net, sizeof net);
	sb_log(SB_LOG_INFO, "egress", "table", e->table, "network", net,
	       SB_LOG_END);
	return 0;
}

void egress_remove(const struct egress *e)
{
	char cmd[96];
	struct sb_err why;
	if (!e->on)
		return;
	snprintf(cmd, sizeof cmd, "delete table inet %s\n", e->table);
	if (nft_run(cmd, &why) < 0)
		sb_log(SB_LOG_WARN, "egress_remove_failed", "table", e->table,
		       "why", why.msg, SB_LOG_END);
}

#else

int egress_apply(const struct egress *e, const struct sb_config *cfg,
		 struct sb_err *err)
{
	(void)cfg;
	if (e->on)
		return sb_err_set(err, ENOTSUP, "network: egress not built in");
	return 0;
}

void egress_remove(const struct egress *e)
{
	(void)e;
}

#endif
