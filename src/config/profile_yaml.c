/* SPDX-License-Identifier: Apache-2.0 */
/* profile_yaml.c - the profiles file, read with libyaml's event parser, and
 * the load order around it.
 *
 *   default_profile: NAME            # optional
 *   profiles:
 *     NAME: {KEY: VALUE, ...}        # keys as in profile.c's table
 *
 * A strict subset of YAML: one document; no anchors, aliases or tags (no
 * surprises, no billion laughs); unknown keys, duplicate keys and values of
 * the wrong shape are errors naming the file, line and key. The parser is
 * pulled event by event and stops at the first thing it does not expect,
 * so nesting depth stays bounded whatever the input. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/cleanup.h"
#include "config/profile_internal.h"

struct yp {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	const char *input;
	size_t len;
	const char *origin;
	struct sb_err *err;
	struct sb_config *cfg; /* for warnings */
};

static size_t line_of(const struct yp *y)
{
	return y->ev.start_mark.line + 1;
}

static void yerr_at(struct yp *y, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void yerr_at(struct yp *y, size_t line, const char *fmt, ...)
{
	char msg[SB_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sb_err_set(y->err, EINVAL, "%s:%zu: %s", y->origin, line, msg);
}

/* "origin:line: message", and -1 (visibly -1: analysers do not follow
 * variadic calls). */
#define YERR_AT(y, line, ...) (yerr_at((y), (line), __VA_ARGS__), -1)
#define yerr(y, ...) YERR_AT((y), line_of(y), __VA_ARGS__)

/* Line of a byte offset, for reader errors (bad UTF-8...), which carry an
 * offset rather than a mark. */
static size_t line_at_offset(const struct yp *y, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off && i < y->len; i++)
		line += y->input[i] == '\n';
	return line;
}

static int syntax_error(struct yp *y)
{
	const yaml_parser_t *p = &y->parser;
	if (p->error == YAML_MEMORY_ERROR) {
		sb_err_set(y->err, ENOMEM, "%s: out of memory", y->origin);
		return -1;
	}
	size_t line = p->error == YAML_READER_ERROR
			      ? line_at_offset(y, p->problem_offset)
			      : p->problem_mark.line + 1;
	const char *problem = p->problem ? p->problem : "malformed input";
	if (p->context)
		return YERR_AT(y, line, "YAML syntax error: %s (%s)", problem,
			       p->context);
	return YERR_AT(y, line, "YAML syntax error: %s", problem);
}

/* Next event; anchors, aliases and tags are refused here, once. */
static int next(struct yp *y)
{
	if (y->have_ev)
		yaml_event_delete(&y->ev);
	y->have_ev = false;
	if (!yaml_parser_parse(&y->parser, &y->ev))
		return syntax_error(y);
	y->have_ev = true;
	const yaml_char_t *anchor = NULL, *tag = NULL;
	switch (y->ev.type) {
	case YAML_ALIAS_EVENT:
		return yerr(y, "YAML aliases (*name) are not supported");
	case YAML_SCALAR_EVENT:
		anchor = y->ev.data.scalar.anchor;
		tag = y->ev.data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = y->ev.data.sequence_start.anchor;
		tag = y->ev.data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = y->ev.data.mapping_start.anchor;
		tag = y->ev.data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor)
		return yerr(y, "YAML anchors (&name) are not supported");
	if (tag)
		return yerr(y, "YAML tags (!tag) are not supported");
	return 0;
}

static bool is_null(const struct yp *y)
{
	if (y->ev.type != YAML_SCALAR_EVENT ||
	    y->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)y->ev.data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") ||
	       !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static const char *shape(const struct yp *y)
{
	switch (y->ev.type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_SCALAR_EVENT:
		return is_null(y) ? "null" : "a scalar";
	default:
		return "something else";
	}
}

/* The current scalar as a C string: bounded, and without NUL bytes (a
 * "\0" escape would silently cut it). ctx prefixes errors. */
static int scalar(struct yp *y, const char *ctx, const char **out)
{
	size_t n = y->ev.data.scalar.length;
	const char *v = (const char *)y->ev.data.scalar.value;
	*out = NULL;
	if (n > SB_CFG_MAX_STRING)
		return yerr(y, "%sa string longer than %d bytes", ctx,
			    SB_CFG_MAX_STRING);
	if (strlen(v) != n)
		return yerr(y, "%sa string contains a NUL byte", ctx);
	*out = v;
	return 0;
}

/* "profile \"x\": key \"k\": " style context for messages. */
struct ctx {
	char profile[SB_PROFILE_NAME_MAX + 16];
	char key[SB_PROFILE_NAME_MAX + 48];
};

/* A list of names: secrets, seccomp_deny, seccomp_allow, slot_gpus,
 * allow_cidrs, deny_cidrs. */
static int parse_list(struct yp *y, struct sb_profile *p, enum sb_field f,
		      const struct ctx *c)
{
	bool cidrs = f == SB_F_ALLOW_CIDRS || f == SB_F_DENY_CIDRS;
	const char *what = f == SB_F_SECRETS	 ? "secret"
			   : f == SB_F_SLOT_GPUS ? "slot GPU"
			   : cidrs		 ? "network"
						 : "system call";
	sb_profile_clear_list(p, f);
	if (is_null(y))
		return 0;
	if (y->ev.type != YAML_SEQUENCE_START_EVENT)
		return yerr(y, "%sexpected a list of %s names, got %s", c->key,
			    what, shape(y));
	for (;;) {
		const char *v;
		if (next(y) < 0)
			return -1;
		if (y->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT || is_null(y))
			return yerr(y, "%sexpected a %s name, got %s", c->key,
				    what, shape(y));
		if (scalar(y, c->key, &v) < 0)
			return -1;
		if (sb_profile_add_to_list(p, f, v, y->err) < 0) {
			sb_err_prefix(y->err, "%s:%zu: %s", y->origin,
				      line_of(y), c->profile);
			return -1;
		}
	}
}

/* The value of env_vars' variable `name` (key on line `line`). */
static int parse_env_value(struct yp *y, struct sb_profile *p,
			   const struct ctx *c, const char *name, size_t line)
{
	const char *v = NULL;
	if (next(y) < 0)
		return -1;
	if (y->ev.type != YAML_SCALAR_EVENT) {
		char q[SB_CFG_QUOTE_MAX];
		sb_cfg_quote(q, sizeof q, name);
		return yerr(y, "%svariable %s: expected a string value, got %s",
			    c->key, q, shape(y));
	}
	if (!is_null(y) && scalar(y, c->key, &v) < 0)
		return -1;
	if (sb_profile_add_env_var(p, name, v, y->err) < 0) {
		sb_err_prefix(y->err, "%s:%zu: %s", y->origin, line,
			      c->profile);
		return -1;
	}
	return 0;
}

static int parse_env_vars(struct yp *y, struct sb_profile *p,
			  const struct ctx *c)
{
	sb_profile_clear_env_vars(p);
	if (is_null(y))
		return 0;
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return yerr(y,
			    "%sexpected a mapping of names to values, got %s",
			    c->key, shape(y));
	for (;;) {
		const char *v;
		if (next(y) < 0)
			return -1;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return yerr(y,
				    "%svariable names must be strings, got %s",
				    c->key, shape(y));
		if (scalar(y, c->key, &v) < 0)
			return -1;
		char *name = strdup(v);
		size_t line = line_of(y);
		if (!name) {
			sb_err_set(y->err, ENOMEM, "out of memory");
			return -1;
		}
		int rc = parse_env_value(y, p, c, name, line);
		free(name);
		if (rc < 0)
			return -1;
	}
}

/* Keys of the seed's profiles that mean nothing here: their value is
 * read (a scalar or null) and passed over with a warning. */
static bool seed_only_key(const char *key)
{
	return strcmp(key, "app_name") == 0;
}

static int skip_seed_key(struct yp *y, const struct sb_profile *p,
			 const char *key)
{
	char name[32];
	size_t line = line_of(y);
	snprintf(name, sizeof name, "%s", key);
	if (next(y) < 0)
		return -1;
	if (y->ev.type != YAML_SCALAR_EVENT)
		return yerr(y,
			    "profile \"%s\": key \"%s\": expected a single "
			    "value, got %s",
			    p->name, name, shape(y));
	sb_config_warn(y->cfg,
		       "%s:%zu: profile \"%s\": key \"%s\" ignored (the "
		       "seed's Modal app name: slotboxd's pools need none)",
		       y->origin, line, p->name, name);
	return 0;
}

static int parse_profile(struct yp *y, struct sb_profile *p)
{
	struct ctx c;
	size_t seen_line[SB_F_COUNT] = {0};
	const char *seen_name[SB_F_COUNT] = {0};

	snprintf(c.profile, sizeof c.profile, "profile \"%s\"", p->name);
	if (is_null(y))
		return 0; /* "name:" alone: the defaults */
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return yerr(y, "%s: expected a mapping of keys, got %s",
			    c.profile, shape(y));
	for (;;) {
		const char *key, *v;
		if (next(y) < 0)
			return -1;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return yerr(y, "%s: keys must be strings, got %s",
				    c.profile, shape(y));
		snprintf(c.key, sizeof c.key, "%s: ", c.profile);
		if (scalar(y, c.key, &key) < 0)
			return -1;
		if (seed_only_key(key)) {
			if (skip_seed_key(y, p, key) < 0)
				return -1;
			continue;
		}
		const struct sb_key *k = sb_profile_key(key, strlen(key));
		if (!k) {
			char q[SB_CFG_QUOTE_MAX];
			sb_cfg_quote(q, sizeof q, key);
			return yerr(y, "%s: key %s: unknown key", c.profile, q);
		}
		snprintf(c.key, sizeof c.key, "%s: key \"%s\": ", c.profile,
			 k->name);
		size_t kline = line_of(y);
		if (seen_line[k->field]) {
			if (seen_name[k->field] == k->name)
				return yerr(y,
					    "%sduplicate key (first on line "
					    "%zu)",
					    c.key, seen_line[k->field]);
			return yerr(y,
				    "%sduplicate key (\"%s\" on line %zu "
				    "sets the same value)",
				    c.key, seen_name[k->field],
				    seen_line[k->field]);
		}
		seen_line[k->field] = kline;
		seen_name[k->field] = k->name;
		if (next(y) < 0)
			return -1;
		int r;
		switch (k->kind) {
		case SB_KEY_LIST:
			r = parse_list(y, p, k->field, &c);
			break;
		case SB_KEY_MAP:
			r = parse_env_vars(y, p, &c);
			break;
		case SB_KEY_SCALAR:
		default:
			if (y->ev.type != YAML_SCALAR_EVENT)
				return yerr(y,
					    "%sexpected a single value, got "
					    "%s",
					    c.key, shape(y));
			v = NULL;
			if (!is_null(y) && scalar(y, c.key, &v) < 0)
				return -1;
			r = sb_profile_set_key(p, k->name, v, y->err);
			if (r < 0)
				sb_err_prefix(y->err, "%s:%zu: %s", y->origin,
					      line_of(y), c.profile);
			break;
		}
		if (r < 0)
			return -1;
	}
}

static int parse_profiles(struct yp *y, struct sb_config *cfg,
			  const struct sb_profile *tmpl)
{
	static const char ctx[] = "key \"profiles\": ";
	if (is_null(y))
		return 0;
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return yerr(y,
			    "%sexpected a mapping of profile names to "
			    "profiles, got %s",
			    ctx, shape(y));
	for (;;) {
		const char *name;
		char q[SB_CFG_QUOTE_MAX];
		if (next(y) < 0)
			return -1;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return yerr(y,
				    "%sprofile names must be strings, got %s",
				    ctx, shape(y));
		if (scalar(y, ctx, &name) < 0)
			return -1;
		sb_cfg_quote(q, sizeof q, name);
		if (!sb_profile_name_valid(name, strlen(name)))
			return yerr(y,
				    "invalid profile name %s (1-%d of A-Z "
				    "a-z 0-9 _ -)",
				    q, SB_PROFILE_NAME_MAX);
		if (sb_config_find(cfg, name))
			return yerr(y, "profile %s: duplicate profile name", q);
		struct sb_profile *p = sb_config_add(cfg, tmpl, name, y->err);
		if (!p) {
			sb_err_prefix(y->err, "%s:%zu", y->origin, line_of(y));
			return -1;
		}
		if (next(y) < 0 || parse_profile(y, p) < 0)
			return -1;
	}
}

struct file_top {
	char *default_profile;
	size_t default_line;
};

static int parse_top(struct yp *y, struct sb_config *cfg,
		     const struct sb_profile *tmpl, struct file_top *top)
{
	size_t profiles_line = 0;
	for (;;) {
		const char *key, *v;
		char q[SB_CFG_QUOTE_MAX];
		if (next(y) < 0)
			return -1;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return yerr(y, "top-level keys must be strings, got %s",
				    shape(y));
		if (scalar(y, "", &key) < 0)
			return -1;
		if (strcmp(key, "profiles") == 0) {
			if (profiles_line)
				return yerr(y,
					    "key \"profiles\": duplicate key "
					    "(first on line %zu)",
					    profiles_line);
			profiles_line = line_of(y);
			if (next(y) < 0 || parse_profiles(y, cfg, tmpl) < 0)
				return -1;
		} else if (strcmp(key, "default_profile") == 0) {
			static const char ctx[] = "key \"default_profile\": ";
			if (top->default_line)
				return yerr(y,
					    "%sduplicate key (first on line "
					    "%zu)",
					    ctx, top->default_line);
			top->default_line = line_of(y);
			if (next(y) < 0)
				return -1;
			if (y->ev.type != YAML_SCALAR_EVENT || is_null(y))
				return yerr(y,
					    "%sexpected a profile name, got "
					    "%s",
					    ctx, shape(y));
			if (scalar(y, ctx, &v) < 0)
				return -1;
			if (!sb_profile_name_valid(v, strlen(v))) {
				sb_cfg_quote(q, sizeof q, v);
				return yerr(y, "%sinvalid profile name %s", ctx,
					    q);
			}
			top->default_line = line_of(y);
			free(top->default_profile); /* a second one was refused
						       above */
			if (!(top->default_profile = strdup(v))) {
				sb_err_set(y->err, ENOMEM, "out of memory");
				return -1;
			}
		} else {
			sb_cfg_quote(q, sizeof q, key);
			return yerr(y,
				    "key %s: unknown top-level key (expected "
				    "profiles or default_profile)",
				    q);
		}
	}
}

static int parse_file(struct yp *y, struct sb_config *cfg,
		      const struct sb_profile *tmpl, struct file_top *top)
{
	/* stream start, then a document or the end */
	for (int i = 0; i < 2; i++)
		if (next(y) < 0)
			return -1;
	if (y->ev.type == YAML_STREAM_END_EVENT)
		return 0; /* an empty file: no profiles */
	if (next(y) < 0)  /* the root node */
		return -1;
	if (y->ev.type == YAML_MAPPING_START_EVENT) {
		if (parse_top(y, cfg, tmpl, top) < 0)
			return -1;
	} else if (!is_null(y)) {
		return yerr(y,
			    "the document must be a mapping (with "
			    "\"profiles\"), got %s",
			    shape(y));
	}
	/* document end, then the end of the stream */
	for (int i = 0; i < 2; i++)
		if (next(y) < 0)
			return -1;
	if (y->ev.type != YAML_STREAM_END_EVENT)
		return yerr(y, "only one YAML document is allowed");
	return 0;
}

int sb_config_load_string(struct sb_config *cfg, const char *yaml, size_t len,
			  const char *origin, char *const *envp,
			  struct sb_err *err)
{
	static char *const no_env[] = {NULL};
	struct sb_profile tmpl;
	struct file_top top = {0};
	char where[SB_ERR_MSG_MAX];
	int rc = -1;

	memset(cfg, 0, sizeof *cfg);
	if (!envp)
		envp = no_env;
	if (!origin)
		origin = "<profiles>";
	if (!yaml && len)
		return sb_err_set(err, EINVAL, "%s: no input", origin);

	/* built-in defaults, then SLOTBOX_<KEY>: the base of every profile */
	sb_profile_defaults(&tmpl, "default");
	if (!tmpl.image || !tmpl.network || !tmpl.workspace_dir) {
		sb_err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if (sb_env_apply_global(cfg, &tmpl, envp, err) < 0)
		goto out;

	/* the file */
	if (len) {
		struct yp y = {.input = yaml,
			       .len = len,
			       .origin = origin,
			       .err = err,
			       .cfg = cfg};
		if (!yaml_parser_initialize(&y.parser)) {
			sb_err_set(err, ENOMEM, "out of memory");
			goto out;
		}
		yaml_parser_set_input_string(&y.parser,
					     (const unsigned char *)yaml, len);
		int r = parse_file(&y, cfg, &tmpl, &top);
		if (y.have_ev)
			yaml_event_delete(&y.ev);
		yaml_parser_delete(&y.parser);
		if (r < 0)
			goto out;
	}

	/* SLOTBOX_PROFILES, "default", SLOTBOX_PROFILE_*, default_profile */
	snprintf(where, sizeof where, "%s:%zu", origin, top.default_line);
	if (sb_env_finish(cfg, &tmpl, top.default_profile, where, envp, err) <
	    0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		sb_config_free(cfg); /* nothing half-loaded */
	free(top.default_profile);
	sb_profile_free(&tmpl);
	return rc;
}
