#include "common/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum sb_log_format log_format = SB_LOG_TEXT;
static enum sb_log_level log_min = SB_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sb_log_setup(enum sb_log_format fmt, enum sb_log_level min)
{
	log_format = fmt;
	log_min = min;
}

static void timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* logfmt quoting: bare when safe, else "..." with \" and \\ escaped. */
static void put_value(FILE *f, const char *v)
{
	if (*v && !strpbrk(v, " \"=\\\n\t")) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

void sb_log(enum sb_log_level level, const char *event, ...)
{
	char ts[40];
	va_list ap;

	if (level < log_min)
		return;
	timestamp(ts, sizeof ts);
	if (log_format == SB_LOG_JSON) {
		json_t *o = json_object();
		if (!o)
			return;
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level",
				    json_string(level_names[level]));
		json_object_set_new(o, "event", json_string(event));
		va_start(ap, event);
		const char *k;
		while ((k = va_arg(ap, const char *))) {
			const char *v = va_arg(ap, const char *);
			if (v)
				json_object_set_new(o, k, json_string(v));
		}
		va_end(ap);
		char *s = json_dumps(o, JSON_COMPACT);
		if (s) {
			fprintf(stderr, "%s\n", s);
			free(s);
		}
		json_decref(o);
		return;
	}
	flockfile(stderr);
	fprintf(stderr, "ts=%s level=%s event=", ts, level_names[level]);
	put_value(stderr, event);
	va_start(ap, event);
	const char *k;
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		if (!v)
			continue;
		fprintf(stderr, " %s=", k);
		put_value(stderr, v);
	}
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}
