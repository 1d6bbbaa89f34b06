/* SPDX-License-Identifier: Apache-2.0 */
/* err.h - the one error contract used at every module boundary.
 *
 * A function that can fail returns < 0 and fills a caller-provided
 * struct sb_err with the errno (0 when not a system error) and a human
 * sentence. Callers add context with sb_err_prefix() as the error travels
 * up. The daemon never exit()s on a bad request: errors become responses.
 * An error that is already an API answer also carries its HTTP status and
 * error code (sb_err_api); 0/NULL means "not classified, caller decides". */
#ifndef SLOTBOX_COMMON_ERR_H
#define SLOTBOX_COMMON_ERR_H

#include <stddef.h>

#define SB_ERR_MSG_MAX 512

struct sb_err {
	int sys_errno;		  /* errno of the failing call, 0 if none */
	char msg[SB_ERR_MSG_MAX]; /* human sentence, never contains secrets */
	int status;		  /* HTTP status, 0 if unclassified */
	const char *code;	  /* static API error code, NULL if unset */
};

/* Fill err (may be NULL) and return -1. */
int sb_err_set(struct sb_err *err, int sys_errno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like sb_err_set with errno and ": strerror(errno)" appended. */
int sb_err_sys(struct sb_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Fill err (may be NULL) as an API answer: HTTP status, static error
 * code and message (no errno); returns -1. One struct instead of a
 * status/code/msg triple of out-parameters. */
int sb_err_api(struct sb_err *err, int status, const char *code,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prepend "context: " to an already filled error and return -1. */
int sb_err_prefix(struct sb_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
