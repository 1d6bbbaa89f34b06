/* SPDX-License-Identifier: Apache-2.0 */
/* profile_env.c - the SLOTBOX_* environment, after the seed's
 * ATROPOS_MODAL_* variables.
 *
 * SLOTBOX_<KEY> is the base of every profile (the file overrides it),
 * SLOTBOX_PROFILE_<NAME>_<KEY> sets one profile last, SLOTBOX_PROFILES=a,b
 * adds profiles. NAME is the profile name upper-cased with '-' as '_'.
 * Other SLOTBOX_* variables (SOCKET, STATE_DIR, TOKEN...) belong to the
 * daemon and are ignored here. Errors name the variable, never a value
 * that may be secret.
 *
 * The seed's ATROPOS_MODAL_<KEY>, ATROPOS_MODAL_PROFILE_<NAME>_<KEY> and
 * ATROPOS_MODAL_PROFILES are read the same way as a fallback: one counts
 * only where no SLOTBOX_ variable sets the same thing, and each one used
 * or passed over is named in a warning. Being another program's, one that
 * matches no profile or key is passed over rather than refused. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/profile_internal.h"

#define VAR_MAX 128 /* room for a variable name in a message */

/* The two families of variables, in order of precedence. */
struct family {
	const char *global;  /* prefix of <KEY> */
	const char *profile; /* prefix of <NAME>_<KEY> */
	const char *list;    /* the list of profile names */
	bool fallback;
};

static const struct family families[] = {
	{"SLOTBOX_", "SLOTBOX_PROFILE_", "SLOTBOX_PROFILES", false},
	{"ATROPOS_MODAL_", "ATROPOS_MODAL_PROFILE_", "ATROPOS_MODAL_PROFILES",
	 true},
};
#define N_FAMILIES (sizeof families / sizeof families[0])

/* NAME=VALUE: the length of NAME and the value; false without '='. */
static bool split(const char *entry, size_t *name_len, const char **value)
{
	const char *eq = strchr(entry, '=');
	if (!eq)
		return false;
	*name_len = (size_t)(eq - entry);
	*value = eq + 1;
	return true;
}

/* As getenv(): of several entries with one name the first counts. */
static bool shadowed(char *const *envp, size_t i, size_t name_len)
{
	for (size_t j = 0; j < i; j++)
		if (strncmp(envp[j], envp[i], name_len + 1) == 0)
			return true;
	return false;
}

/* A variable's name, printable and bounded, for messages. */
static void var_name(char *buf, size_t size, const char *entry, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 4 < size; i++) {
		unsigned char c = (unsigned char)entry[i];
		buf[o++] = isgraph(c) ? (char)c : '?';
	}
	if (o < len && o + 4 <= size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

static const char *env_lookup(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (char *const *e = envp; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Aliases write one field: MEMORY and MEMORY_MB both set is a conflict
 * rather than a silent pick by environment order. */
static int note_field(size_t *set_by, const struct sb_key *k, size_t i,
		      char *const *envp, const char *var, struct sb_err *err)
{
	size_t prev = set_by[k->field];
	if (prev != SIZE_MAX) {
		char other[VAR_MAX];
		size_t len = 0;
		const char *v;
		split(envp[prev], &len, &v);
		var_name(other, sizeof other, envp[prev], len);
		return sb_err_set(err, EINVAL,
				  "environment variable %s: sets the same key "
				  "as %s",
				  var, other);
	}
	set_by[k->field] = i;
	return 0;
}

/* A fallback variable for a field the first family already set: passed
 * over, and said so. */
static bool overridden(struct sb_config *cfg, const size_t *set_by,
		       const struct sb_key *k, char *const *envp,
		       const struct family *fam, const char *var)
{
	size_t prev = set_by[k->field];
	if (!fam->fallback || prev == SIZE_MAX ||
	    strncmp(envp[prev], fam->global, strlen(fam->global)) == 0)
		return false;
	char other[VAR_MAX];
	size_t len = strcspn(envp[prev], "=");
	var_name(other, sizeof other, envp[prev], len);
	sb_config_warn(cfg, "environment variable %s ignored: %s is set", var,
		       other);
	return true;
}

int sb_env_apply_global(struct sb_config *cfg, struct sb_profile *tmpl,
			char *const *envp, struct sb_err *err)
{
	size_t set_by[SB_F_COUNT];
	for (size_t f = 0; f < SB_F_COUNT; f++)
		set_by[f] = SIZE_MAX;
	for (size_t fi = 0; fi < N_FAMILIES; fi++) {
		const struct family *fam = &families[fi];
		size_t plen = strlen(fam->global);
		for (size_t i = 0; envp[i]; i++) {
			const char *e = envp[i], *value;
			size_t len;
			if (strncmp(e, fam->global, plen) != 0 ||
			    !split(e, &len, &value))
				continue;
			/* Not a key (SLOTBOX_SOCKET, SLOTBOX_PROFILES...):
			 * not ours. */
			const struct sb_key *k =
				sb_profile_env_key(e + plen, len - plen);
			if (!k || shadowed(envp, i, len))
				continue;
			char var[VAR_MAX];
			var_name(var, sizeof var, e, len);
			if (overridden(cfg, set_by, k, envp, fam, var))
				continue;
			if (note_field(set_by, k, i, envp, var, err) < 0)
				return -1;
			if (sb_profile_set_key(tmpl, k->name, value, err) < 0)
				return sb_err_prefix(
					err, "environment variable %s", var);
			if (fam->fallback)
				sb_config_warn(cfg,
					       "environment variable %s used "
					       "as SLOTBOX_%.*s",
					       var, (int)(len - plen),
					       e + plen);
		}
	}
	return 0;
}

/* SLOTBOX_PROFILES=a, b: profiles made from the base, if not in the file. */
static int add_listed(struct sb_config *cfg, const struct sb_profile *tmpl,
		      char *const *envp, struct sb_err *err)
{
	const char *var = families[0].list;
	const char *list = env_lookup(envp, var);
	const char *fallback = env_lookup(envp, families[1].list);
	if (!list && fallback) {
		var = families[1].list;
		list = fallback;
		sb_config_warn(cfg, "environment variable %s used as %s", var,
			       families[0].list);
	} else if (list && fallback) {
		sb_config_warn(cfg,
			       "environment variable %s ignored: %s is set",
			       families[1].list, var);
	}
	if (!list)
		return 0;
	char *copy = strdup(list), *save = NULL;
	int rc = 0;
	if (!copy)
		return sb_err_set(err, ENOMEM, "out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		size_t n = strlen(tok);
		while (n && isspace((unsigned char)tok[n - 1]))
			tok[--n] = '\0';
		if (!n || sb_config_find_mut(cfg, tok, n))
			continue;
		if (!sb_profile_name_valid(tok, n)) {
			char q[SB_CFG_QUOTE_MAX];
			sb_cfg_quote(q, sizeof q, tok);
			rc = sb_err_set(err, EINVAL,
					"environment variable %s: invalid "
					"profile name %s (1-%d of A-Z a-z 0-9 "
					"_ -)",
					var, q, SB_PROFILE_NAME_MAX);
		} else if (!sb_config_add(cfg, tmpl, tok, err)) {
			rc = sb_err_prefix(err, "environment variable %s", var);
		}
	}
	free(copy);
	return rc < 0 ? -1 : 0;
}

/* Does rest start with the env form of name followed by '_'? */
static bool env_name_prefix(const char *rest, size_t rlen, const char *name,
			    size_t nlen)
{
	if (rlen <= nlen + 1 || rest[nlen] != '_')
		return false;
	for (size_t i = 0; i < nlen; i++) {
		char c = name[i] == '-' ? '_'
					: (char)toupper((unsigned char)name[i]);
		if (rest[i] != c)
			return false;
	}
	return true;
}

struct match {
	struct sb_profile *p;
	const struct sb_key *k;
};

/* Split NAME_KEY against the known profiles, longest name first, keeping
 * the split whose KEY is a real key: with profiles "a" and "a_min",
 * A_MIN_SANDBOXES is a's min_sandboxes. No key is an '_'-suffix of
 * another, so two valid splits only come from names that read the same
 * ("a-b" and "a_b"): that is refused as ambiguous. */
static int match_var(struct sb_config *cfg, const size_t *order,
		     const char *rest, size_t rlen, const char *var,
		     struct match *m, struct sb_err *err)
{
	struct sb_profile *longest = NULL;
	m->p = NULL;
	m->k = NULL;
	for (size_t j = 0; j < cfg->n_profiles; j++) {
		struct sb_profile *p = &cfg->profiles[order[j]];
		size_t nlen = strlen(p->name);
		if (!env_name_prefix(rest, rlen, p->name, nlen))
			continue;
		if (!longest)
			longest = p;
		const struct sb_key *k =
			sb_profile_env_key(rest + nlen + 1, rlen - nlen - 1);
		if (!k)
			continue;
		if (m->p)
			return sb_err_set(err, EINVAL,
					  "environment variable %s: matches "
					  "both profile \"%s\" and profile "
					  "\"%s\"",
					  var, m->p->name, p->name);
		m->p = p;
		m->k = k;
	}
	if (m->p)
		return 0;
	if (longest) {
		char key[VAR_MAX];
		size_t nlen = strlen(longest->name);
		var_name(key, sizeof key, rest + nlen + 1, rlen - nlen - 1);
		return sb_err_set(err, EINVAL,
				  "environment variable %s: unknown key %s for "
				  "profile \"%s\"",
				  var, key, longest->name);
	}
	return sb_err_set(err, EINVAL,
			  "environment variable %s: matches no profile "
			  "(profiles come from the file, SLOTBOX_PROFILES "
			  "and \"default\")",
			  var);
}

/* One family's SLOTBOX_PROFILE_<NAME>_<KEY> variables. A fallback's
 * variable that matches nothing is passed over with a warning. */
static int apply_family(struct sb_config *cfg, const size_t *order,
			size_t *set_by, const struct family *fam,
			char *const *envp, struct sb_err *err)
{
	size_t plen = strlen(fam->profile);
	for (size_t i = 0; envp[i]; i++) {
		const char *e = envp[i], *value;
		size_t len;
		if (strncmp(e, fam->profile, plen) != 0 ||
		    !split(e, &len, &value) || shadowed(envp, i, len))
			continue;
		char var[VAR_MAX];
		struct match m;
		struct sb_err why;
		var_name(var, sizeof var, e, len);
		if (match_var(cfg, order, e + plen, len - plen, var, &m,
			      fam->fallback ? &why : err) < 0) {
			if (!fam->fallback)
				return -1;
			sb_config_warn(cfg, "%s; ignored", why.msg);
			continue;
		}
		if (!m.p || !m.k)
			continue;
		size_t pi = (size_t)(m.p - cfg->profiles);
		size_t *sb = set_by + pi * SB_F_COUNT;
		/* overridden() compares with the global prefix; here the
		 * first family's profile prefix is the one that wins. */
		if (fam->fallback && sb[m.k->field] != SIZE_MAX &&
		    strncmp(envp[sb[m.k->field]], families[0].profile,
			    strlen(families[0].profile)) == 0) {
			sb_config_warn(cfg,
				       "environment variable %s ignored: a "
				       "SLOTBOX_PROFILE_ variable sets the "
				       "same key",
				       var);
			continue;
		}
		if (note_field(sb, m.k, i, envp, var, err) < 0)
			return -1;
		if (sb_profile_set_key(m.p, m.k->name, value, err) < 0)
			return sb_err_prefix(err, "environment variable %s",
					     var);
		if (fam->fallback)
			sb_config_warn(cfg,
				       "environment variable %s used for "
				       "profile \"%s\" key %s",
				       var, m.p->name, m.k->name);
	}
	return 0;
}

static int apply_per_profile(struct sb_config *cfg, char *const *envp,
			     struct sb_err *err)
{
	size_t n = cfg->n_profiles;
	size_t *order = calloc(n, sizeof *order);
	size_t *set_by = calloc(n * SB_F_COUNT, sizeof *set_by);
	int rc = 0;
	if (!order || !set_by) {
		rc = sb_err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n * SB_F_COUNT; i++)
		set_by[i] = SIZE_MAX;
	/* Longest name first (insertion sort: n <= 256, done once). */
	for (size_t i = 0; i < n; i++) {
		size_t j = i, li = strlen(cfg->profiles[i].name);
		while (j > 0 && strlen(cfg->profiles[order[j - 1]].name) < li) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (size_t fi = 0; fi < N_FAMILIES && rc == 0; fi++)
		rc = apply_family(cfg, order, set_by, &families[fi], envp, err);
out:
	free(order);
	free(set_by);
	return rc < 0 ? -1 : 0;
}

int sb_env_finish(struct sb_config *cfg, const struct sb_profile *tmpl,
		  const char *file_default, const char *file_default_where,
		  char *const *envp, struct sb_err *err)
{
	if (add_listed(cfg, tmpl, envp, err) < 0)
		return -1;
	if (!sb_config_find(cfg, "default") &&
	    !sb_config_add(cfg, tmpl, "default", err))
		return sb_err_prefix(err, "profile \"default\"");
	if (apply_per_profile(cfg, envp, err) < 0)
		return -1;

	/* The file's default_profile beats SLOTBOX_DEFAULT_PROFILE, as every
	 * file key beats its SLOTBOX_<KEY>. */
	const char *name = file_default, *where = file_default_where;
	if (!name) {
		name = env_lookup(envp, "SLOTBOX_DEFAULT_PROFILE");
		where = "environment variable SLOTBOX_DEFAULT_PROFILE";
		if (name && !*name)
			name = NULL; /* set but empty: as unset */
	}
	if (!name)
		name = "default";
	if (!sb_config_find(cfg, name)) {
		char q[SB_CFG_QUOTE_MAX];
		sb_cfg_quote(q, sizeof q, name);
		return sb_err_set(err, EINVAL,
				  "%s: default_profile %s is not a defined "
				  "profile",
				  where, q);
	}
	if (!(cfg->default_profile = strdup(name)))
		return sb_err_set(err, ENOMEM, "out of memory");

	for (size_t i = 0; i < cfg->n_profiles; i++) {
		sb_profile_settle(&cfg->profiles[i]);
		if (sb_profile_check(&cfg->profiles[i], err) < 0)
			return -1;
	}
	return 0;
}
