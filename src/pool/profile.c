/* profile.c - profile defaults, key validation and the load order. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "pool/profile_internal.h"

void sb_profile_defaults(struct sb_profile *p, const char *name)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	p->image = strdup("host");
	p->gpu = NULL;
	p->cpu = 1.0;
	p->memory_mb = 2048;
	p->pids_max = 1024;
	p->network = strdup("none");
	p->slots_per_sandbox = 4;
	p->min_sandboxes = 1;
	p->max_sandboxes = 8;
	p->idle_timeout_s = 120;
	p->max_lifetime_s = 3600;
	p->acquire_timeout_s = 60;
	p->execution_timeout_s = 30;
	p->workspace_dir = strdup("/workspace");
	p->output_limit_bytes = 1 << 20;
	p->max_file_bytes = 64 << 20;
}

bool sb_profile_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > SB_PROFILE_NAME_MAX)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			return false;
	return true;
}

static int parse_i64(const char *key, const char *v, int64_t lo, int64_t hi,
		     int64_t *out, struct sb_err *err)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < lo || x > hi)
		return sb_err_set(err, EINVAL,
				  "key \"%s\": expected an integer in [%lld, "
				  "%lld], got \"%.64s\"",
				  key, (long long)lo, (long long)hi, v);
	*out = x;
	return 0;
}

static int parse_int(const char *key, const char *v, int lo, int hi, int *out,
		     struct sb_err *err)
{
	int64_t x = 0;
	if (parse_i64(key, v, lo, hi, &x, err) < 0)
		return -1;
	*out = (int)x;
	return 0;
}

static int parse_double(const char *key, const char *v, double lo_excl,
			bool zero_ok, double hi, double *out,
			struct sb_err *err)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(x) || x > hi ||
	    !(x > lo_excl || (zero_ok && x == 0)))
		return sb_err_set(err, EINVAL,
				  "key \"%s\": expected a number %s %g and <= "
				  "%g, got \"%.64s\"",
				  key, zero_ok ? ">=" : ">", lo_excl, hi, v);
	*out = x;
	return 0;
}

/* Characters that would break overlayfs mount options. A loop rather
 * than strpbrk: GCC 12 with ASan mis-warns on strpbrk(v + 4, ...). */
static bool overlay_unsafe(const char *s)
{
	for (; *s; s++)
		if (*s == ',' || *s == ':' || *s == '\\')
			return true;
	return false;
}

static int set_string(char **dst, const char *v)
{
	char *s = strdup(v);
	if (!s)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* Absolute, no "." or ".." components, no "//", no trailing slash, not
 * "/" itself, no ',' or ':' (they would break overlay options). */
static int normalise_dir(const char *key, const char *v, char **dst,
			 struct sb_err *err)
{
	char buf[4096];
	size_t o = 0;
	if (v[0] != '/' || strlen(v) >= sizeof buf || strpbrk(v, ",:\\\n"))
		goto bad;
	for (const char *p = v; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			goto bad;
		buf[o++] = '/';
		memcpy(buf + o, p, len);
		o += len;
		p += len;
	}
	if (o == 0)
		goto bad;
	buf[o] = '\0';
	return set_string(dst, buf) < 0
		       ? sb_err_set(err, ENOMEM, "out of memory")
		       : 0;
bad:
	return sb_err_set(err, EINVAL,
			  "key \"%s\": expected an absolute directory other "
			  "than / without . or .. components, got \"%.64s\"",
			  key, v);
}

int sb_profile_set_key(struct sb_profile *p, const char *key, const char *v,
		       struct sb_err *err)
{
	if (strlen(v) > SB_CFG_MAX_STRING)
		return sb_err_set(err, E2BIG, "key \"%s\": value too long",
				  key);
	if (!strcmp(key, "image")) {
		if (strcmp(v, "host") && strncmp(v, "dir:/", 5) &&
		    !sb_profile_name_ok(v))
			return sb_err_set(err, EINVAL,
					  "key \"image\": expected host, "
					  "dir:/path or an image name, got "
					  "\"%.64s\"",
					  v);
		if (!strncmp(v, "dir:", 4) && overlay_unsafe(v + 4))
			return sb_err_set(err, EINVAL,
					  "key \"image\": the path may not "
					  "contain ',', ':' or '\\'");
		return set_string(&p->image, v);
	}
	if (!strcmp(key, "gpu")) {
		if (!*v || !strcmp(v, "none") || !strcmp(v, "null")) {
			free(p->gpu);
			p->gpu = NULL;
			return 0;
		}
		return set_string(&p->gpu, v);
	}
	if (!strcmp(key, "cpu"))
		return parse_double(key, v, 0, false, 1024, &p->cpu, err);
	if (!strcmp(key, "memory") || !strcmp(key, "memory_mb"))
		return parse_i64(key, v, 16, 16777216, &p->memory_mb, err);
	if (!strcmp(key, "pids_max"))
		return parse_i64(key, v, 8, 4194304, &p->pids_max, err);
	if (!strcmp(key, "network")) {
		if (strcmp(v, "none") && strcmp(v, "host"))
			return sb_err_set(err, EINVAL,
					  "key \"network\": network mode "
					  "%.32s is not supported (use none "
					  "or host)",
					  v);
		return set_string(&p->network, v);
	}
	if (!strcmp(key, "slots_per_sandbox"))
		return parse_int(key, v, 1, 1000, &p->slots_per_sandbox, err);
	if (!strcmp(key, "min_sandboxes"))
		return parse_int(key, v, 0, 10000, &p->min_sandboxes, err);
	if (!strcmp(key, "max_sandboxes"))
		return parse_int(key, v, 1, 10000, &p->max_sandboxes, err);
	if (!strcmp(key, "idle_timeout") || !strcmp(key, "idle_timeout_s"))
		return parse_double(key, v, 0, true, 86400.0 * 30,
				    &p->idle_timeout_s, err);
	if (!strcmp(key, "max_lifetime") || !strcmp(key, "max_lifetime_s"))
		return parse_double(key, v, 0, true, 86400.0 * 30,
				    &p->max_lifetime_s, err);
	if (!strcmp(key, "acquire_timeout") ||
	    !strcmp(key, "acquire_timeout_s"))
		return parse_double(key, v, 0, false, 86400.0 * 30,
				    &p->acquire_timeout_s, err);
	if (!strcmp(key, "execution_timeout") ||
	    !strcmp(key, "execution_timeout_s"))
		return parse_double(key, v, 0, false, 86400.0 * 30,
				    &p->execution_timeout_s, err);
	if (!strcmp(key, "workspace_dir") || !strcmp(key, "workspace_base"))
		return normalise_dir(key, v, &p->workspace_dir, err);
	if (!strcmp(key, "output_limit_bytes"))
		return parse_i64(key, v, 1024, 1LL << 30,
				 &p->output_limit_bytes, err);
	if (!strcmp(key, "max_file_bytes"))
		return parse_i64(key, v, 1, 4LL << 30, &p->max_file_bytes, err);
	sb_err_set(err, EINVAL, "key \"%.64s\": unknown key", key);
	return -2;
}

int sb_profile_add_secret(struct sb_profile *p, const char *name,
			  struct sb_err *err)
{
	if (p->n_secrets >= SB_CFG_MAX_SECRETS)
		return sb_err_set(err, E2BIG, "key \"secrets\": more than %d",
				  SB_CFG_MAX_SECRETS);
	if (!sb_profile_name_ok(name))
		return sb_err_set(err, EINVAL,
				  "key \"secrets\": a secret name must match "
				  "[A-Za-z0-9_-]{1,63}");
	char **n = realloc(p->secrets, (p->n_secrets + 1) * sizeof *n);
	if (!n || !(n[p->n_secrets] = strdup(name))) {
		if (n)
			p->secrets = n;
		return sb_err_set(err, ENOMEM, "out of memory");
	}
	p->secrets = n;
	p->n_secrets++;
	return 0;
}

int sb_profile_set_env(struct sb_profile *p, const char *key, const char *value,
		       struct sb_err *err)
{
	if (!*key || strchr(key, '=') || strlen(key) > 256)
		return sb_err_set(err, EINVAL,
				  "key \"env_vars\": bad variable name "
				  "\"%.64s\"",
				  key);
	if (strlen(value) > SB_CFG_MAX_STRING)
		return sb_err_set(err, E2BIG,
				  "key \"env_vars\": value of %.64s too long",
				  key);
	for (size_t i = 0; i < p->n_env_vars; i++) {
		if (!strcmp(p->env_vars[i].key, key))
			return set_string(&p->env_vars[i].value, value) < 0
				       ? sb_err_set(err, ENOMEM,
						    "out of memory")
				       : 0;
	}
	if (p->n_env_vars >= SB_CFG_MAX_ENV)
		return sb_err_set(err, E2BIG, "key \"env_vars\": more than %d",
				  SB_CFG_MAX_ENV);
	struct sb_kv *n = realloc(p->env_vars, (p->n_env_vars + 1) * sizeof *n);
	if (!n)
		return sb_err_set(err, ENOMEM, "out of memory");
	p->env_vars = n;
	n[p->n_env_vars].key = strdup(key);
	n[p->n_env_vars].value = strdup(value);
	if (!n[p->n_env_vars].key || !n[p->n_env_vars].value) {
		free(n[p->n_env_vars].key);
		free(n[p->n_env_vars].value);
		return sb_err_set(err, ENOMEM, "out of memory");
	}
	p->n_env_vars++;
	return 0;
}

void sb_profile_clear_secrets(struct sb_profile *p)
{
	for (size_t i = 0; i < p->n_secrets; i++)
		free(p->secrets[i]);
	free(p->secrets);
	p->secrets = NULL;
	p->n_secrets = 0;
}

void sb_profile_clear_env(struct sb_profile *p)
{
	for (size_t i = 0; i < p->n_env_vars; i++) {
		free(p->env_vars[i].key);
		free(p->env_vars[i].value);
	}
	free(p->env_vars);
	p->env_vars = NULL;
	p->n_env_vars = 0;
}

void sb_profile_free(struct sb_profile *p)
{
	free(p->image);
	free(p->gpu);
	free(p->network);
	free(p->workspace_dir);
	sb_profile_clear_secrets(p);
	sb_profile_clear_env(p);
	memset(p, 0, sizeof *p);
}

int sb_profile_copy(struct sb_profile *dst, const struct sb_profile *src,
		    const char *name)
{
	*dst = *src;
	snprintf(dst->name, sizeof dst->name, "%s", name);
	dst->image = strdup(src->image);
	dst->gpu = src->gpu ? strdup(src->gpu) : NULL;
	dst->network = strdup(src->network);
	dst->workspace_dir = strdup(src->workspace_dir);
	dst->secrets = NULL;
	dst->n_secrets = 0;
	dst->env_vars = NULL;
	dst->n_env_vars = 0;
	if (!dst->image || (src->gpu && !dst->gpu) || !dst->network ||
	    !dst->workspace_dir)
		return -1;
	for (size_t i = 0; i < src->n_secrets; i++)
		if (sb_profile_add_secret(dst, src->secrets[i], NULL) < 0)
			return -1;
	for (size_t i = 0; i < src->n_env_vars; i++)
		if (sb_profile_set_env(dst, src->env_vars[i].key,
				       src->env_vars[i].value, NULL) < 0)
			return -1;
	return 0;
}

int sb_profile_check(const struct sb_profile *p, struct sb_err *err)
{
	if (p->min_sandboxes > p->max_sandboxes)
		return sb_err_set(err, EINVAL,
				  "profile \"%s\": min_sandboxes (%d) is more "
				  "than max_sandboxes (%d)",
				  p->name, p->min_sandboxes, p->max_sandboxes);
	return 0;
}

struct sb_profile *sb_config_add(struct sb_config *cfg, const char *name,
				 const struct sb_profile *base,
				 struct sb_err *err)
{
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (!strcmp(cfg->profiles[i].name, name))
			return &cfg->profiles[i];
	if (!sb_profile_name_ok(name)) {
		sb_err_set(err, EINVAL,
			   "profile name \"%.64s\" must match "
			   "[A-Za-z0-9_-]{1,63}",
			   name);
		return NULL;
	}
	if (cfg->n_profiles >= SB_CFG_MAX_PROFILES) {
		sb_err_set(err, E2BIG, "more than %d profiles",
			   SB_CFG_MAX_PROFILES);
		return NULL;
	}
	struct sb_profile *n =
		realloc(cfg->profiles, (cfg->n_profiles + 1) * sizeof *n);
	if (!n) {
		sb_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	cfg->profiles = n;
	struct sb_profile *p = &n[cfg->n_profiles];
	if (sb_profile_copy(p, base, name) < 0) {
		sb_profile_free(p);
		sb_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	cfg->n_profiles++;
	return p;
}

void sb_config_free(struct sb_config *cfg)
{
	for (size_t i = 0; i < cfg->n_profiles; i++)
		sb_profile_free(&cfg->profiles[i]);
	free(cfg->profiles);
	free(cfg->default_profile);
	memset(cfg, 0, sizeof *cfg);
}

const struct sb_profile *sb_config_find(const struct sb_config *cfg,
					const char *name)
{
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (!strcmp(cfg->profiles[i].name, name))
			return &cfg->profiles[i];
	return NULL;
}

int sb_config_load_string(struct sb_config *cfg, const char *yaml, size_t len,
			  const char *origin, char *const *envp,
			  struct sb_err *err)
{
	struct sb_profile base;
	char *dflt = NULL;
	static char *const no_env[] = {NULL};

	if (!envp)
		envp = no_env;
	memset(cfg, 0, sizeof *cfg);
	sb_profile_defaults(&base, "default");
	if (!base.image || !base.network || !base.workspace_dir) {
		sb_profile_free(&base);
		return sb_err_set(err, ENOMEM, "out of memory");
	}
	if (sb_env_apply_global(&base, envp, err) < 0)
		goto fail;
	if (yaml && sb_yaml_load(cfg, yaml, len, origin, &base, &dflt, err) < 0)
		goto fail;
	if (sb_env_profile_names(envp, cfg, &base, err) < 0)
		goto fail;
	if (!sb_config_add(cfg, "default", &base, err))
		goto fail;
	if (sb_env_apply_profiles(cfg, envp, err) < 0)
		goto fail;
	const char *env_dflt = sb_env_default_profile(envp);
	if (env_dflt) {
		free(dflt);
		dflt = strdup(env_dflt);
	}
	cfg->default_profile = dflt ? dflt : strdup("default");
	dflt = NULL;
	if (!cfg->default_profile) {
		sb_err_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (!sb_config_find(cfg, cfg->default_profile)) {
		sb_err_set(err, EINVAL,
			   "default_profile \"%.64s\" is not a profile",
			   cfg->default_profile);
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (sb_profile_check(&cfg->profiles[i], err) < 0)
			goto fail;
	sb_profile_free(&base);
	return 0;
fail:
	free(dflt);
	sb_profile_free(&base);
	sb_config_free(cfg);
	return -1;
}

int sb_config_load(struct sb_config *cfg, const char *path, char *const *envp,
		   struct sb_err *err)
{
	if (!path)
		return sb_config_load_string(cfg, NULL, 0, "environment", envp,
					     err);
	_cleanup_file_ FILE *f = fopen(path, "re");
	if (!f)
		return sb_err_sys(err, "%s", path);
	struct stat st;
	if (fstat(fileno(f), &st) < 0)
		return sb_err_sys(err, "%s", path);
	if (st.st_size > 16 << 20)
		return sb_err_set(err, EFBIG, "%s: larger than 16 MiB", path);
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return sb_err_set(err, ENOMEM, "out of memory");
	size_t n = fread(buf, 1, (size_t)st.st_size, f);
	buf[n] = '\0';
	return sb_config_load_string(cfg, buf, n, path, envp, err);
}
