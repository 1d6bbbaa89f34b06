/* SPDX-License-Identifier: Apache-2.0 */
#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sb_err_set(struct sb_err *err, int sys_errno, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->sys_errno = sys_errno;
	err->status = 0;
	err->code = NULL;
	return -1;
}

int sb_err_api(struct sb_err *err, int status, const char *code,
	       const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->sys_errno = 0;
	err->status = status;
	err->code = code;
	return -1;
}

int sb_err_sys(struct sb_err *err, const char *fmt, ...)
{
	int saved = errno;
	if (!err)
		return -1;
	char buf[SB_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	snprintf(err->msg, sizeof err->msg, "%s: %s", buf, strerror(saved));
	err->sys_errno = saved;
	err->status = 0;
	err->code = NULL;
	errno = saved;
	return -1;
}

int sb_err_prefix(struct sb_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char ctx[SB_ERR_MSG_MAX];
	char old[SB_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof ctx, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	snprintf(err->msg, sizeof err->msg, "%s: %s", ctx, old);
	return -1;
}
