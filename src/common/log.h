/* SPDX-License-Identifier: Apache-2.0 */
/* log.h - one line per event, text (logfmt) or JSON, to stderr.
 *
 * Fields are key/value pairs so operators can grep and ship them; callers
 * never pass secrets (tokens, env values, request bodies). When stderr is
 * the journal (systemd's $JOURNAL_STREAM names it), each line starts with
 * its syslog priority (<3> error, <4> warn, <6> info, <7> debug) so that
 * `journalctl -p` filters work, and text lines leave the timestamp to
 * journald. */
#ifndef SLOTBOX_COMMON_LOG_H
#define SLOTBOX_COMMON_LOG_H

#include <stdbool.h>

enum sb_log_level { SB_LOG_DEBUG, SB_LOG_INFO, SB_LOG_WARN, SB_LOG_ERROR };
enum sb_log_format { SB_LOG_TEXT, SB_LOG_JSON };

void sb_log_setup(enum sb_log_format fmt, enum sb_log_level min);

/* Would a line of this level be written? (skip building its fields) */
bool sb_log_enabled(enum sb_log_level level);

/* Ends sb_log's key/value list (a typed null pointer, as variadic
 * functions need). */
#define SB_LOG_END ((const char *)0)

/* sb_log(level, "event", "k1", "v1", "k2", "v2", SB_LOG_END): values are
 * strings (NULL values are skipped). */
void sb_log(enum sb_log_level level, const char *event, ...)
	__attribute__((sentinel));

#endif
