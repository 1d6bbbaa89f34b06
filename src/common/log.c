/* SPDX-License-Identifier: Apache-2.0 */
/* log.c - one line per event on stderr, logfmt or JSON.
 *
 * Each line is built in memory and written with one write(2), so lines
 * from threadpool work never interleave and journald (which reads the
 * stream line by line) gets whole lines. Values are escaped so that no
 * value can start a line of its own or fake a field. */
#include "common/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/json_text.h"
#include "common/util.h"

#define LOG_LINE_MAX 16384 /* text lines; a longer one is cut */
#define LOG_VALUE_MAX 2048 /* each value, both formats */

static enum sb_log_format log_format = SB_LOG_TEXT;
static enum sb_log_level log_min = SB_LOG_INFO;
static int log_journal = -1; /* unknown until the first line */

static const char *const level_names[] = {"debug", "info", "warn", "error"};
/* syslog priorities (sd-daemon(3) prefixes): debug, info, warning, err */
static const char *const level_prio[] = {"<7>", "<6>", "<4>", "<3>"};

/* systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it connects
 * stdout/stderr to; it is inherited by children whose stderr goes
 * elsewhere, so it counts only when it names our stderr (systemd.exec(5)). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	char *end;
	struct stat st;

	if (!js || *js < '0' || *js > '9')
		return false;
	errno = 0;
	unsigned long long dev = strtoull(js, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		return false;
	unsigned long long ino = strtoull(end + 1, &end, 10);
	if (errno || *end)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

static bool journal(void)
{
	/* a race here only computes the same answer twice */
	if (log_journal < 0)
		log_journal = stderr_is_journal();
	return log_journal > 0;
}

void sb_log_setup(enum sb_log_format fmt, enum sb_log_level min)
{
	log_format = fmt;
	log_min = min;
	log_journal = stderr_is_journal();
}

bool sb_log_enabled(enum sb_log_level level)
{
	return level >= log_min;
}

static void timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 ||
	    !gmtime_r(&ts.tv_sec, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Write all of buf to stderr. A failure is dropped: there is nowhere
 * left to report it, and a daemon must not stop over its log. */
static void put_line(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
	bool full;
};

static void add(struct line *l, const char *s, size_t n)
{
	/* keep room for " truncated=true\n" */
	if (l->full || n > sizeof l->buf - 32 - l->len) {
		l->full = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void adds(struct line *l, const char *s)
{
	add(l, s, strlen(s));
}

static bool bare_ok(const char *v)
{
	if (!*v)
		return false;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '=' ||
		    *p == '\\')
			return false;
	return true;
}

/* logfmt: bare when safe, else "..." with \" \\ \n \r \t and \xNN for
 * the other control bytes; at most LOG_VALUE_MAX bytes of v. */
static void add_value(struct line *l, const char *v)
{
	size_t n = strnlen(v, LOG_VALUE_MAX);
	if (n < LOG_VALUE_MAX && bare_ok(v)) {
		add(l, v, n);
		return;
	}
	add(l, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		char esc[8];
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			add(l, esc, 2);
		} else if (ch == '\n') {
			add(l, "\\n", 2);
		} else if (ch == '\r') {
			add(l, "\\r", 2);
		} else if (ch == '\t') {
			add(l, "\\t", 2);
		} else if (ch < ' ' || ch == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", ch);
			add(l, esc, 4);
		} else {
			add(l, (const char *)&v[i], 1);
		}
	}
	if (v[n])
		add(l, "...", 3);
	add(l, "\"", 1);
}

static void log_text(struct line *l, const char *ts, enum sb_log_level level,
		     const char *event, va_list ap)
{
	/* journald stamps every line itself */
	if (!journal()) {
		adds(l, "ts=");
		adds(l, ts);
		adds(l, " ");
	}
	adds(l, "level=");
	adds(l, level_names[level]);
	adds(l, " event=");
	add_value(l, event);
	const char *k;
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		if (!v)
			continue;
		adds(l, " ");
		adds(l, k);
		adds(l, "=");
		add_value(l, v);
	}
	if (l->full) {
		l->full = false;
		adds(l, " truncated=true");
	}
	add(l, "\n", 1);
}

/* A JSON string of at most LOG_VALUE_MAX bytes of v, whatever its bytes
 * (invalid UTF-8 becomes U+FFFD rather than dropping the field). */
static json_t *json_value(const char *v)
{
	size_t n = strnlen(v, LOG_VALUE_MAX);
	return sb_json_string_lossy(v, n, NULL);
}

static void log_json(struct line *l, const char *ts, enum sb_log_level level,
		     const char *event, va_list ap)
{
	json_t *o = json_object();
	if (!o)
		return;
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(level_names[level]));
	json_object_set_new(o, "event", json_value(event));
	const char *k;
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		if (v)
			json_object_set_new(o, k, json_value(v));
	}
	char *s = sb_json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return;
	/* a JSON line is never cut (that would break it): past the text
	 * limit it is written on its own, after the prefix */
	size_t n = strlen(s);
	if (n + 1 <= sizeof l->buf - l->len) {
		add(l, s, n);
		add(l, "\n", 1);
	} else {
		put_line(l->buf, l->len);
		l->len = 0;
		s[n] = '\n';
		put_line(s, n + 1);
	}
	free(s);
}

void sb_log(enum sb_log_level level, const char *event, ...)
{
	char ts[40];
	va_list ap;
	struct line *l;

	if (level < log_min || level > SB_LOG_ERROR)
		return;
	l = malloc(sizeof *l);
	if (!l)
		return;
	l->len = 0;
	l->full = false;
	timestamp(ts, sizeof ts);
	/* <N>: journald takes the line's priority from it (sd-daemon) */
	if (journal())
		adds(l, level_prio[level]);
	va_start(ap, event);
	if (log_format == SB_LOG_JSON)
		log_json(l, ts, level, event, ap);
	else
		log_text(l, ts, level, event, ap);
	va_end(ap);
	put_line(l->buf, l->len);
	free(l);
}
