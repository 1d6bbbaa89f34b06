/* profile_yaml.c - the profiles file, read with libyaml's event parser.
 *
 * A strict subset: one document, mappings, sequences and plain scalars; no
 * anchors or aliases (no surprises, no billion laughs); duplicate keys and
 * unknown keys are errors that name the file, line and key. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "pool/profile_internal.h"

struct yp {
	yaml_parser_t parser;
	yaml_event_t ev;
	bool have_ev;
	const char *origin;
	struct sb_err *err;
};

static int line_of(const struct yp *y)
{
	return (int)y->ev.start_mark.line + 1;
}

static int yerr(struct yp *y, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int yerr(struct yp *y, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return sb_err_set(y->err, EINVAL, "%s:%d: %s", y->origin, line_of(y),
			  msg);
}

/* Advance to the next event; refuse anchors and aliases here, once. */
static int next(struct yp *y)
{
	if (y->have_ev)
		yaml_event_delete(&y->ev);
	y->have_ev = false;
	if (!yaml_parser_parse(&y->parser, &y->ev))
		return sb_err_set(y->err, EINVAL, "%s:%d: %s", y->origin,
				  (int)y->parser.problem_mark.line + 1,
				  y->parser.problem ? y->parser.problem
						    : "YAML syntax error");
	y->have_ev = true;
	const char *anchor = NULL;
	if (y->ev.type == YAML_ALIAS_EVENT)
		return yerr(y, "aliases are not allowed");
	if (y->ev.type == YAML_SCALAR_EVENT)
		anchor = (const char *)y->ev.data.scalar.anchor;
	else if (y->ev.type == YAML_MAPPING_START_EVENT)
		anchor = (const char *)y->ev.data.mapping_start.anchor;
	else if (y->ev.type == YAML_SEQUENCE_START_EVENT)
		anchor = (const char *)y->ev.data.sequence_start.anchor;
	if (anchor)
		return yerr(y, "anchors are not allowed");
	return 0;
}

static const char *scalar(const struct yp *y)
{
	return (const char *)y->ev.data.scalar.value;
}

static bool is_null_scalar(const struct yp *y)
{
	const char *v = scalar(y);
	return y->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*v || !strcmp(v, "~") || !strcmp(v, "null") ||
		!strcmp(v, "Null") || !strcmp(v, "NULL"));
}

/* Small set of keys seen in one mapping, for duplicate detection. */
struct seen {
	char **keys;
	size_t n;
};

static int seen_add(struct yp *y, struct seen *s, const char *k,
		    const char *ctx)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->keys[i], k))
			return yerr(y, "%skey \"%.64s\": duplicate key", ctx,
				    k);
	char **n = realloc(s->keys, (s->n + 1) * sizeof *n);
	if (!n || !(n[s->n] = strdup(k))) {
		if (n)
			s->keys = n;
		return sb_err_set(y->err, ENOMEM, "out of memory");
	}
	s->keys = n;
	s->n++;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->keys[i]);
	free(s->keys);
}

static int parse_secrets(struct yp *y, struct sb_profile *p, const char *ctx)
{
	sb_profile_clear_secrets(p);
	if (y->ev.type == YAML_SCALAR_EVENT && is_null_scalar(y))
		return 0;
	if (y->ev.type != YAML_SEQUENCE_START_EVENT)
		return yerr(y, "%skey \"secrets\": expected a list of names",
			    ctx);
	for (;;) {
		if (next(y) < 0)
			return -1;
		if (y->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (y->ev.type != YAML_SCALAR_EVENT)
			return yerr(y, "%skey \"secrets\": expected names",
				    ctx);
		if (sb_profile_add_secret(p, scalar(y), y->err) < 0)
			return sb_err_prefix(y->err, "%s:%d: %s", y->origin,
					     line_of(y), ctx);
	}
}

static int parse_env(struct yp *y, struct sb_profile *p, const char *ctx)
{
	struct seen s = {0};
	int rc = -1;
	sb_profile_clear_env(p);
	if (y->ev.type == YAML_SCALAR_EVENT && is_null_scalar(y))
		return 0;
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return yerr(y, "%skey \"env_vars\": expected a mapping", ctx);
	for (;;) {
		if (next(y) < 0)
			goto out;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (y->ev.type != YAML_SCALAR_EVENT) {
			yerr(y, "%skey \"env_vars\": names must be strings",
			     ctx);
			goto out;
		}
		char *name = strdup(scalar(y));
		if (!name || seen_add(y, &s, name, ctx) < 0 || next(y) < 0) {
			free(name);
			goto out;
		}
		if (y->ev.type != YAML_SCALAR_EVENT) {
			yerr(y,
			     "%skey \"env_vars\": value of %.64s must be a "
			     "string",
			     ctx, name);
			free(name);
			goto out;
		}
		int r = sb_profile_set_env(p, name, scalar(y), y->err);
		free(name);
		if (r < 0) {
			sb_err_prefix(y->err, "%s:%d: %s", y->origin,
				      line_of(y), ctx);
			goto out;
		}
	}
	rc = 0;
out:
	seen_free(&s);
	return rc;
}

static int parse_profile(struct yp *y, struct sb_profile *p)
{
	char ctx[96];
	struct seen s = {0};
	int rc = -1;

	snprintf(ctx, sizeof ctx, "profile \"%s\": ", p->name);
	if (y->ev.type == YAML_SCALAR_EVENT && is_null_scalar(y))
		return 0; /* "name:" alone = all defaults */
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return yerr(y, "%sexpected a mapping of keys", ctx);
	for (;;) {
		if (next(y) < 0)
			goto out;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (y->ev.type != YAML_SCALAR_EVENT) {
			yerr(y, "%skeys must be strings", ctx);
			goto out;
		}
		char key[64];
		snprintf(key, sizeof key, "%s", scalar(y));
		if (seen_add(y, &s, key, ctx) < 0 || next(y) < 0)
			goto out;
		int r;
		if (!strcmp(key, "secrets")) {
			r = parse_secrets(y, p, ctx);
		} else if (!strcmp(key, "env_vars")) {
			r = parse_env(y, p, ctx);
		} else if (y->ev.type != YAML_SCALAR_EVENT) {
			struct sb_profile probe;
			sb_profile_defaults(&probe, "probe");
			int known = sb_profile_set_key(&probe, key, "1", NULL);
			sb_profile_free(&probe);
			r = known == -2
				    ? yerr(y, "%skey \"%.64s\": unknown key",
					   ctx, key)
				    : yerr(y,
					   "%skey \"%.64s\": expected a "
					   "single value",
					   ctx, key);
		} else if (!strcmp(key, "gpu") && is_null_scalar(y)) {
			r = sb_profile_set_key(p, key, "", y->err);
		} else {
			r = sb_profile_set_key(p, key, scalar(y), y->err);
			if (r < 0)
				sb_err_prefix(y->err, "%s:%d: %.*s", y->origin,
					      line_of(y), (int)strlen(ctx) - 2,
					      ctx);
		}
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	seen_free(&s);
	return rc;
}

static int parse_profiles(struct yp *y, struct sb_config *cfg,
			  const struct sb_profile *base)
{
	struct seen s = {0};
	int rc = -1;
	if (y->ev.type == YAML_SCALAR_EVENT && is_null_scalar(y))
		return 0;
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return yerr(y, "\"profiles\" must be a mapping of names");
	for (;;) {
		if (next(y) < 0)
			goto out;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (y->ev.type != YAML_SCALAR_EVENT) {
			yerr(y, "profile names must be strings");
			goto out;
		}
		char name[128];
		snprintf(name, sizeof name, "%s", scalar(y));
		if (!sb_profile_name_ok(name)) {
			yerr(y,
			     "profile name \"%.64s\" must match "
			     "[A-Za-z0-9_-]{1,63}",
			     name);
			goto out;
		}
		if (seen_add(y, &s, name, "profiles: ") < 0)
			goto out;
		struct sb_profile *p = sb_config_add(cfg, name, base, y->err);
		if (!p || next(y) < 0 || parse_profile(y, p) < 0)
			goto out;
	}
	rc = 0;
out:
	seen_free(&s);
	return rc;
}

static int parse_top(struct yp *y, struct sb_config *cfg,
		     const struct sb_profile *base, char **dflt)
{
	struct seen s = {0};
	int rc = -1;
	if (y->ev.type == YAML_SCALAR_EVENT && is_null_scalar(y))
		return 0;
	if (y->ev.type != YAML_MAPPING_START_EVENT)
		return yerr(y, "the document must be a mapping with "
			       "\"profiles\"");
	for (;;) {
		if (next(y) < 0)
			goto out;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (y->ev.type != YAML_SCALAR_EVENT) {
			yerr(y, "keys must be strings");
			goto out;
		}
		char key[64];
		snprintf(key, sizeof key, "%s", scalar(y));
		if (seen_add(y, &s, key, "") < 0 || next(y) < 0)
			goto out;
		if (!strcmp(key, "profiles")) {
			if (parse_profiles(y, cfg, base) < 0)
				goto out;
		} else if (!strcmp(key, "default_profile")) {
			if (y->ev.type != YAML_SCALAR_EVENT ||
			    !sb_profile_name_ok(scalar(y))) {
				yerr(y, "key \"default_profile\": expected a "
					"profile name");
				goto out;
			}
			free(*dflt);
			*dflt = strdup(scalar(y));
		} else {
			yerr(y, "key \"%.64s\": unknown key", key);
			goto out;
		}
	}
	rc = 0;
out:
	seen_free(&s);
	return rc;
}

int sb_yaml_load(struct sb_config *cfg, const char *yaml, size_t len,
		 const char *origin, const struct sb_profile *base,
		 char **default_profile, struct sb_err *err)
{
	struct yp y = {.origin = origin, .err = err};
	int rc = -1;

	if (!yaml_parser_initialize(&y.parser))
		return sb_err_set(err, ENOMEM, "out of memory");
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)yaml,
				     len);
	if (next(&y) < 0 || y.ev.type != YAML_STREAM_START_EVENT ||
	    next(&y) < 0)
		goto out;
	if (y.ev.type == YAML_STREAM_END_EVENT) {
		rc = 0; /* empty file: no profiles */
		goto out;
	}
	if (next(&y) < 0 || parse_top(&y, cfg, base, default_profile) < 0 ||
	    next(&y) < 0)
		goto out;
	if (y.ev.type != YAML_DOCUMENT_END_EVENT || next(&y) < 0)
		goto out;
	if (y.ev.type != YAML_STREAM_END_EVENT) {
		yerr(&y, "only one YAML document is allowed");
		goto out;
	}
	rc = 0;
out:
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	return rc;
}
