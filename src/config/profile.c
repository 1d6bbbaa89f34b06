/* SPDX-License-Identifier: Apache-2.0 */
/* profile.c - profile defaults, the key table and the one place each key is
 * parsed and checked; reading the profiles file. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cidr.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "config/gpu_assign.h"
#include "config/profile_internal.h"
#include "config/seccomp_policy.h"
#include "image/image.h"

#define MAX_TIMEOUT_S (86400.0 * 30)

static const struct sb_key keys[] = {
	{"image", SB_F_IMAGE, SB_KEY_SCALAR},
	{"gpu", SB_F_GPU, SB_KEY_SCALAR},
	{"cpu", SB_F_CPU, SB_KEY_SCALAR},
	{"memory", SB_F_MEMORY, SB_KEY_SCALAR}, /* the seed's name, in MB */
	{"memory_mb", SB_F_MEMORY, SB_KEY_SCALAR},
	{"pids_max", SB_F_PIDS_MAX, SB_KEY_SCALAR},
	{"sandbox_memory_mb", SB_F_SANDBOX_MEMORY, SB_KEY_SCALAR},
	{"disk_mb", SB_F_DISK, SB_KEY_SCALAR}, /* per slot, 0 = unlimited */
	{"network", SB_F_NETWORK, SB_KEY_SCALAR},
	{"ptys_max", SB_F_PTYS_MAX, SB_KEY_SCALAR}, /* per slot */
	{"slots_per_sandbox", SB_F_SLOTS, SB_KEY_SCALAR},
	{"min_sandboxes", SB_F_MIN, SB_KEY_SCALAR},
	{"max_sandboxes", SB_F_MAX, SB_KEY_SCALAR},
	{"prestart_slots", SB_F_PRESTART, SB_KEY_SCALAR},
	{"idle_timeout", SB_F_IDLE, SB_KEY_SCALAR},
	{"idle_timeout_s", SB_F_IDLE, SB_KEY_SCALAR},
	{"max_lifetime", SB_F_LIFETIME, SB_KEY_SCALAR},
	{"max_lifetime_s", SB_F_LIFETIME, SB_KEY_SCALAR},
	{"acquire_timeout", SB_F_ACQUIRE, SB_KEY_SCALAR},
	{"acquire_timeout_s", SB_F_ACQUIRE, SB_KEY_SCALAR},
	{"execution_timeout", SB_F_EXECUTION, SB_KEY_SCALAR},
	{"execution_timeout_s", SB_F_EXECUTION, SB_KEY_SCALAR},
	{"workspace_dir", SB_F_WORKSPACE, SB_KEY_SCALAR},
	{"workspace_base", SB_F_WORKSPACE, SB_KEY_SCALAR}, /* seed's name */
	{"output_limit_bytes", SB_F_OUTPUT_LIMIT, SB_KEY_SCALAR},
	{"max_file_bytes", SB_F_MAX_FILE, SB_KEY_SCALAR},
	{"snapshot_max_bytes", SB_F_SNAPSHOT_BYTES, SB_KEY_SCALAR},
	{"snapshot_max_entries", SB_F_SNAPSHOT_ENTRIES, SB_KEY_SCALAR},
	{"secrets", SB_F_SECRETS, SB_KEY_LIST},
	{"env_vars", SB_F_ENV_VARS, SB_KEY_MAP},
	{"seccomp", SB_F_SECCOMP, SB_KEY_SCALAR},
	{"seccomp_deny", SB_F_SECCOMP_DENY, SB_KEY_LIST},
	{"seccomp_allow", SB_F_SECCOMP_ALLOW, SB_KEY_LIST},
	{"workspace_template", SB_F_TEMPLATE, SB_KEY_SCALAR},
	{"gpu_per_slot", SB_F_GPU_PER_SLOT, SB_KEY_SCALAR},
	{"slot_gpus", SB_F_SLOT_GPUS, SB_KEY_LIST}, /* "0;1,2;none" in env */
	{"max_processes", SB_F_MAX_PROCESSES, SB_KEY_SCALAR}, /* per slot */
	{"process_output_bytes", SB_F_PROCESS_OUTPUT, SB_KEY_SCALAR},
	{"allow_cidrs", SB_F_ALLOW_CIDRS, SB_KEY_LIST}, /* network: egress */
	{"deny_cidrs", SB_F_DENY_CIDRS, SB_KEY_LIST},
	{"userns", SB_F_USERNS, SB_KEY_SCALAR},
};

#define N_KEYS (sizeof keys / sizeof keys[0])

const struct sb_key *sb_profile_key(const char *name, size_t len)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strlen(keys[i].name) == len &&
		    memcmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

const struct sb_key *sb_profile_env_key(const char *name, size_t len)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const char *k = keys[i].name;
		if (strlen(k) != len)
			continue;
		size_t j = 0;
		while (j < len && name[j] == toupper((unsigned char)k[j]))
			j++;
		if (j == len)
			return &keys[i];
	}
	return NULL;
}

void sb_profile_defaults(struct sb_profile *p, const char *name)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name ? name : "default");
	/* On allocation failure these stay NULL; the loaders check. */
	p->image = strdup("host");
	p->gpu = NULL;
	p->cpu = 1.0;
	p->memory_mb = 2048;
	p->pids_max = 1024;
	p->disk_mb = 1024;
	p->network = strdup("none");
	p->ptys_max = 64;
	p->userns = -1; /* sb_profile_settle() */
	p->max_processes = 16;
	p->process_output_bytes = INT64_C(1) << 20;
	p->slots_per_sandbox = 4;
	p->min_sandboxes = 1;
	p->max_sandboxes = 8;
	p->prestart_slots = -1; /* sb_profile_settle() */
	p->idle_timeout_s = 120;
	p->max_lifetime_s = 3600;
	p->acquire_timeout_s = 60;
	p->execution_timeout_s = 30;
	p->workspace_dir = strdup("/workspace");
	p->output_limit_bytes = INT64_C(1) << 20;
	p->max_file_bytes = INT64_C(64) << 20;
	p->snapshot_max_bytes = 0; /* disk_mb's */
	p->snapshot_max_entries = 200000;
	p->seccomp = SB_SECCOMP_DEFAULT;
	p->seccomp_fd = -1;
}

bool sb_profile_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > SB_PROFILE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '_' && c != '-')
			return false;
	}
	return true;
}

void sb_cfg_quote(char *buf, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (size < 8) {
		if (size)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		/* keep room for `\xNN`, `..."` and the NUL */
		if (o + 4 + 5 > size) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

/* ---- scalar parsers: strict, the whole string, range checked ---- */

static bool starts_clean(const char *v)
{
	/* strtoll/strtod skip leading blanks; a config value may not. */
	return *v && !isspace((unsigned char)*v);
}

static int set_i64(int64_t *out, const char *key, const char *v, int64_t lo,
		   int64_t hi, struct sb_err *err)
{
	char *end = NULL;
	errno = 0;
	long long x = starts_clean(v) ? strtoll(v, &end, 10) : 0;
	if (!end || end == v || *end || errno == ERANGE || x < lo || x > hi) {
		char q[SB_CFG_QUOTE_MAX];
		sb_cfg_quote(q, sizeof q, v);
		return sb_err_set(err, EINVAL,
				  "key \"%s\": expected an integer in "
				  "[%lld, %lld], got %s",
				  key, (long long)lo, (long long)hi, q);
	}
	*out = x;
	return 0;
}

/* A memory limit in MB: 0 (none) or 16 MB up to 16 TB. */
static int set_memory_mb(int64_t *out, const char *key, const char *v,
			 struct sb_err *err)
{
	if (strcmp(v, "0") == 0) {
		*out = 0;
		return 0;
	}
	return set_i64(out, key, v, 16, 16777216, err);
}

static int set_int(int *out, const char *key, const char *v, int lo, int hi,
		   struct sb_err *err)
{
	int64_t x = 0;
	if (set_i64(&x, key, v, lo, hi, err) < 0)
		return -1;
	*out = (int)x;
	return 0;
}

/* A number in (0, hi], or [0, hi] when zero_ok. */
static int set_bool(int *out, const char *key, const char *v,
		    struct sb_err *err)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
		*out = 0;
		return 0;
	}
	return sb_err_set(err, EINVAL,
			  "key \"%s\": expected true or false, got \"%s\"", key,
			  v);
}

static int set_double(double *out, const char *key, const char *v, bool zero_ok,
		      double hi, struct sb_err *err)
{
	char *end = NULL;
	errno = 0;
	double x = starts_clean(v) ? strtod(v, &end) : 0;
	if (!end || end == v || *end || errno == ERANGE || !isfinite(x) ||
	    x > hi || x < 0 || (x == 0 && !zero_ok)) {
		char q[SB_CFG_QUOTE_MAX];
		sb_cfg_quote(q, sizeof q, v);
		return sb_err_set(err, EINVAL,
				  "key \"%s\": expected a number in %c0, "
				  "%.15g], got %s",
				  key, zero_ok ? '[' : '(', hi, q);
	}
	*out = x;
	return 0;
}

static int replace_str(char **dst, const char *v, struct sb_err *err)
{
	char *s = strdup(v);
	if (!s)
		return sb_err_set(err, ENOMEM, "out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

/* Normalise an absolute path: "//" and "." collapse, a trailing '/' goes,
 * ".." is refused (it could climb out of where the path seems to point).
 * Returns a new string, or NULL with *why set (why NULL: out of memory). */
static char *normalise_path(const char *in, const char **why)
{
	size_t n = strlen(in);
	*why = NULL;
	if (in[0] != '/') {
		*why = "must be an absolute path";
		return NULL;
	}
	if (n >= PATH_MAX) {
		*why = "is too long";
		return NULL;
	}
	for (const char *c = in; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			*why = "must not contain control characters";
			return NULL;
		}
		/* overlayfs takes paths in a comma separated option string */
		if (*c == ',' || *c == ':' || *c == '\\') {
			*why = "must not contain ',', ':' or '\\'";
			return NULL;
		}
	}
	char *out = malloc(n + 2);
	if (!out)
		return NULL;
	size_t o = 0;
	for (const char *s = in; *s;) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchrnul(s, '/');
		size_t len = (size_t)(e - s);
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			free(out);
			*why = "must not contain \"..\"";
			return NULL;
		}
		if (!(len == 1 && s[0] == '.')) {
			out[o++] = '/';
			memcpy(out + o, s, len);
			o += len;
		}
		s = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* *dst = v as a normalised absolute path other than "/". */
static int set_abs_path(char **dst, const char *key, const char *v,
			struct sb_err *err)
{
	const char *why;
	char *path = normalise_path(v, &why);
	if (path && strcmp(path, "/") == 0) {
		free(path);
		path = NULL;
		why = "must not be /";
	}
	if (!path) {
		if (!why)
			return sb_err_set(err, ENOMEM, "out of memory");
		char q[SB_CFG_QUOTE_MAX];
		sb_cfg_quote(q, sizeof q, v);
		return sb_err_set(err, EINVAL, "key \"%s\": %s %s", key, q,
				  why);
	}
	free(*dst);
	*dst = path;
	return 0;
}

static int set_workspace(struct sb_profile *p, const char *key, const char *v,
			 struct sb_err *err)
{
	return set_abs_path(&p->workspace_dir, key, v, err);
}

/* A template is read once, at daemon start (templates.c), which says
 * whether it exists; here only its form: an absolute path, "" or null for
 * none. */
static int set_template(struct sb_profile *p, const char *key, const char *v,
			struct sb_err *err)
{
	if (!v || !*v || strcmp(v, "none") == 0) {
		free(p->workspace_template);
		p->workspace_template = NULL;
		return 0;
	}
	return set_abs_path(&p->workspace_template, key, v, err);
}

bool image_store_name(const char *ref, char *out, size_t size)
{
	static const char *const hub[] = {"docker.io/", "index.docker.io/",
					  "registry-1.docker.io/"};
	for (size_t i = 0; i < sizeof hub / sizeof hub[0]; i++)
		if (strncmp(ref, hub[i], strlen(hub[i])) == 0) {
			ref += strlen(hub[i]);
			break;
		}
	if (strncmp(ref, "library/", 8) == 0)
		ref += 8;
	if (strlen(ref) >= size)
		return false;
	snprintf(out, size, "%s", ref);
	return image_name_valid(out);
}

/* "host", "dir:/abs/path", or the name of an image in the store (looked
 * up when a sandbox starts: it may be imported after the daemon). */
static int set_image(struct sb_profile *p, const char *key, const char *v,
		     struct sb_err *err)
{
	char q[SB_CFG_QUOTE_MAX], name[IMAGE_NAME_MAX + 1];
	if (strcmp(v, "host") == 0)
		return replace_str(&p->image, v, err);
	if (strncmp(v, "dir:", 4) != 0 &&
	    image_store_name(v, name, sizeof name))
		return replace_str(&p->image, name, err);
	sb_cfg_quote(q, sizeof q, v);
	if (strncmp(v, "dir:", 4) != 0)
		return sb_err_set(err, EINVAL,
				  "key \"%s\": image %s is not valid (use "
				  "host, dir:/absolute/path or an image name: "
				  "letters, digits, . _ : -, optionally after "
				  "docker.io/library/; import a registry "
				  "image under such a name with: slotbox "
				  "image import NAME FILE.tar)",
				  key, q);
	const char *why;
	char *path = normalise_path(v + 4, &why);
	if (!path) {
		if (!why)
			return sb_err_set(err, ENOMEM, "out of memory");
		return sb_err_set(err, EINVAL,
				  "key \"%s\": image %s: the path %s", key, q,
				  why);
	}
	size_t n = strlen(path) + 5;
	char *img = malloc(n);
	if (img)
		snprintf(img, n, "dir:%s", path);
	free(path);
	if (!img)
		return sb_err_set(err, ENOMEM, "out of memory");
	free(p->image);
	p->image = img;
	return 0;
}

/* Free-form GPU request ("all", "0,1", "H100"): checked for shape only. */
static int set_gpu(struct sb_profile *p, const char *key, const char *v,
		   struct sb_err *err)
{
	if (!v || !*v || strcmp(v, "none") == 0 || strcmp(v, "null") == 0) {
		free(p->gpu);
		p->gpu = NULL;
		return 0;
	}
	size_t n = strlen(v);
	bool ok = n <= 128;
	for (size_t i = 0; ok && i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		ok = isalnum(c) || strchr("_.,:=/-", c);
	}
	if (!ok) {
		char q[SB_CFG_QUOTE_MAX];
		sb_cfg_quote(q, sizeof q, v);
		return sb_err_set(err, EINVAL,
				  "key \"%s\": invalid GPU request %s (1-128 "
				  "of A-Z a-z 0-9 _ . , : = / -)",
				  key, q);
	}
	return replace_str(&p->gpu, v, err);
}

static int set_seccomp(struct sb_profile *p, const char *key, const char *v,
		       struct sb_err *err)
{
	char q[SB_CFG_QUOTE_MAX];
	if (strcmp(v, "default") == 0) {
		p->seccomp = SB_SECCOMP_DEFAULT;
		return 0;
	}
	if (strcmp(v, "none") == 0) {
		p->seccomp = SB_SECCOMP_NONE;
		return 0;
	}
	sb_cfg_quote(q, sizeof q, v);
	return sb_err_set(err, EINVAL,
			  "key \"%s\": seccomp mode %s is not supported (use "
			  "default or none)",
			  key, q);
}

static int set_network(struct sb_profile *p, const char *key, const char *v,
		       struct sb_err *err)
{
	char q[SB_CFG_QUOTE_MAX];
	if (strcmp(v, "none") == 0 || strcmp(v, "egress") == 0 ||
	    strcmp(v, "host") == 0)
		return replace_str(&p->network, v, err);
	sb_cfg_quote(q, sizeof q, v);
	return sb_err_set(err, EINVAL,
			  "key \"%s\": network mode %s is not supported (use "
			  "none, egress or host)",
			  key, q);
}

/* ---- lists and maps ---- */

/* A list key's storage, and its name for messages. */
struct names {
	char ***items;
	size_t *n;
	const char *key;
};

static struct names names_of(struct sb_profile *p, enum sb_field f)
{
	switch (f) {
	case SB_F_SECCOMP_DENY:
		return (struct names){&p->seccomp_deny, &p->n_seccomp_deny,
				      "seccomp_deny"};
	case SB_F_SECCOMP_ALLOW:
		return (struct names){&p->seccomp_allow, &p->n_seccomp_allow,
				      "seccomp_allow"};
	case SB_F_SLOT_GPUS:
		return (struct names){&p->slot_gpus, &p->n_slot_gpus,
				      "slot_gpus"};
	case SB_F_ALLOW_CIDRS:
		return (struct names){&p->allow_cidrs, &p->n_allow_cidrs,
				      "allow_cidrs"};
	case SB_F_DENY_CIDRS:
		return (struct names){&p->deny_cidrs, &p->n_deny_cidrs,
				      "deny_cidrs"};
	case SB_F_SECRETS:
	default:
		return (struct names){&p->secrets, &p->n_secrets, "secrets"};
	}
}

void sb_profile_clear_list(struct sb_profile *p, enum sb_field f)
{
	struct names l = names_of(p, f);
	for (size_t i = 0; i < *l.n; i++)
		free((*l.items)[i]);
	free(*l.items);
	*l.items = NULL;
	*l.n = 0;
}

void sb_profile_clear_env_vars(struct sb_profile *p)
{
	for (size_t i = 0; i < p->n_env_vars; i++) {
		free(p->env_vars[i].key);
		free(p->env_vars[i].value);
	}
	free(p->env_vars);
	p->env_vars = NULL;
	p->n_env_vars = 0;
}

static bool secret_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SB_CFG_SECRET_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

/* Secret names are not echoed: a value pasted by mistake stays private. */
static int check_secret(const struct names *l, const char *name,
			struct sb_err *err)
{
	size_t nth = *l->n + 1;
	if (*l->n >= SB_CFG_MAX_SECRETS)
		return sb_err_set(err, E2BIG,
				  "key \"secrets\": more than %d secrets",
				  SB_CFG_MAX_SECRETS);
	if (!secret_name_valid(name))
		return sb_err_set(err, EINVAL,
				  "key \"secrets\": secret #%zu is not a valid "
				  "name (1-%d of A-Z a-z 0-9 _ - .)",
				  nth, SB_CFG_SECRET_NAME_MAX);
	for (size_t i = 0; i < *l->n; i++)
		if (strcmp((*l->items)[i], name) == 0)
			return sb_err_set(
				err, EINVAL,
				"key \"secrets\": secret #%zu repeats "
				"secret #%zu",
				nth, i + 1);
	return 0;
}

static bool syscall_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SB_CFG_SYSCALL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) &&
		    !isdigit((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* A typo in a deny list would silently leave the call allowed, and an
 * allow of something never denied says the writer expected otherwise:
 * both are refused. Known and distinct names bound the list's length. */
static int check_syscall(const struct names *l, enum sb_field f,
			 const char *name, struct sb_err *err)
{
	char q[SB_CFG_QUOTE_MAX];
	sb_cfg_quote(q, sizeof q, name);
	if (!syscall_name_valid(name) || !sb_seccomp_syscall_known(name))
		return sb_err_set(err, EINVAL,
				  "key \"%s\": unknown system call %s", l->key,
				  q);
	if (f == SB_F_SECCOMP_ALLOW && !sb_seccomp_default_rule(name))
		return sb_err_set(err, EINVAL,
				  "key \"%s\": %s is not on the default deny "
				  "list (nothing to allow)",
				  l->key, q);
	if (f == SB_F_SECCOMP_DENY && strcmp(name, "execve") == 0)
		return sb_err_set(err, EINVAL,
				  "key \"%s\": %s cannot be denied (every "
				  "command starts with it)",
				  l->key, q);
	for (size_t i = 0; i < *l->n; i++)
		if (strcmp((*l->items)[i], name) == 0)
			return sb_err_set(err, EINVAL,
					  "key \"%s\": %s is listed twice",
					  l->key, q);
	return 0;
}

/* One slot's GPUs: "none", "all" or device numbers "0,1" (gpu_assign.h);
 * at most one item per slot. */
static int check_slot_gpu(const struct names *l, const char *name,
			  struct sb_err *err)
{
	char q[SB_CFG_QUOTE_MAX];
	if (*l->n >= SB_CFG_MAX_SLOT_GPUS)
		return sb_err_set(err, E2BIG,
				  "key \"slot_gpus\": more than %d items",
				  SB_CFG_MAX_SLOT_GPUS);
	if (gpu_slot_item_valid(name))
		return 0;
	sb_cfg_quote(q, sizeof q, name);
	return sb_err_set(err, EINVAL,
			  "key \"slot_gpus\": item #%zu %s is not none, all "
			  "or a list of distinct GPU numbers 0-%d like \"0,1\"",
			  *l->n + 1, q, SB_GPU_MAX - 1);
}

/* A network of allow_cidrs or deny_cidrs, stored in canonical form
 * (canon) so that the ruleset never sees the user's text. */
static int check_cidr(const struct names *l, const char *name, char *canon,
		      struct sb_err *err)
{
	struct sb_cidr c;

	if (*l->n >= SB_CFG_MAX_CIDRS)
		return sb_err_set(err, E2BIG, "key \"%s\": more than %d items",
				  l->key, SB_CFG_MAX_CIDRS);
	if (!sb_cidr_parse(name, &c)) {
		char q[SB_CFG_QUOTE_MAX];
		sb_cfg_quote(q, sizeof q, name);
		return sb_err_set(err, EINVAL,
				  "key \"%s\": item #%zu %s is not a network "
				  "in CIDR notation with its host bits zero "
				  "(like 10.1.0.0/16 or fd00::/8)",
				  l->key, *l->n + 1, q);
	}
	sb_cidr_format(&c, canon, SB_CIDR_TEXT_MAX);
	for (size_t i = 0; i < *l->n; i++)
		if (strcmp((*l->items)[i], canon) == 0)
			return sb_err_set(err, EINVAL,
					  "key \"%s\": %s is listed twice",
					  l->key, canon);
	return 0;
}

int sb_profile_add_to_list(struct sb_profile *p, enum sb_field f,
			   const char *name, struct sb_err *err)
{
	struct names l = names_of(p, f);
	bool syscalls = f == SB_F_SECCOMP_DENY || f == SB_F_SECCOMP_ALLOW;
	bool cidrs = f == SB_F_ALLOW_CIDRS || f == SB_F_DENY_CIDRS;
	char canon[SB_CIDR_TEXT_MAX];
	int r = syscalls	      ? check_syscall(&l, f, name, err)
		: cidrs		      ? check_cidr(&l, name, canon, err)
		: f == SB_F_SLOT_GPUS ? check_slot_gpu(&l, name, err)
				      : check_secret(&l, name, err);
	if (r < 0)
		return -1;
	if (cidrs)
		name = canon;
	char **n = realloc(*l.items, (*l.n + 1) * sizeof *n);
	if (!n)
		return sb_err_set(err, ENOMEM, "out of memory");
	*l.items = n;
	if (!(n[*l.n] = strdup(name)))
		return sb_err_set(err, ENOMEM, "out of memory");
	(*l.n)++;
	return 0;
}

/* Values may be credentials: errors name the variable, never the value. */
int sb_profile_add_env_var(struct sb_profile *p, const char *key,
			   const char *value, struct sb_err *err)
{
	if (!sb_env_name_valid(key))
		return sb_err_set(err, EINVAL,
				  "key \"env_vars\": variable #%zu has an "
				  "invalid name (1-%d of A-Z a-z 0-9 _, not "
				  "starting with a digit)",
				  p->n_env_vars + 1, SB_ENV_NAME_MAX);
	if (!value)
		return sb_err_set(err, EINVAL,
				  "key \"env_vars\": variable \"%s\" has no "
				  "value (write \"\" for an empty one)",
				  key);
	if (strlen(value) > SB_CFG_MAX_STRING)
		return sb_err_set(err, E2BIG,
				  "key \"env_vars\": the value of \"%s\" is "
				  "longer than %d bytes",
				  key, SB_CFG_MAX_STRING);
	for (size_t i = 0; i < p->n_env_vars; i++)
		if (strcmp(p->env_vars[i].key, key) == 0)
			return sb_err_set(err, EINVAL,
					  "key \"env_vars\": duplicate "
					  "variable \"%s\"",
					  key);
	if (p->n_env_vars >= SB_CFG_MAX_ENV_VARS)
		return sb_err_set(err, E2BIG,
				  "key \"env_vars\": more than %d variables",
				  SB_CFG_MAX_ENV_VARS);
	struct sb_kv *n = realloc(p->env_vars, (p->n_env_vars + 1) * sizeof *n);
	if (!n)
		return sb_err_set(err, ENOMEM, "out of memory");
	p->env_vars = n;
	struct sb_kv kv = {strdup(key), strdup(value)};
	if (!kv.key || !kv.value) {
		free(kv.key);
		free(kv.value);
		return sb_err_set(err, ENOMEM, "out of memory");
	}
	n[p->n_env_vars++] = kv;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "a, b,c": blanks around names trimmed, empty items skipped (as the seed).
 * Built aside and swapped in, so a bad list leaves the old one. */
static int set_list_text(struct sb_profile *p, enum sb_field f, const char *v,
			 struct sb_err *err)
{
	struct sb_profile tmp = {0};
	char *copy = strdup(v), *save = NULL;
	int rc = 0;
	if (!copy)
		return sb_err_set(err, ENOMEM, "out of memory");
	/* slot_gpus items hold commas ("0,1"): ';' separates them */
	const char *sep = f == SB_F_SLOT_GPUS ? ";" : ",";
	for (char *tok = strtok_r(copy, sep, &save); tok && rc == 0;
	     tok = strtok_r(NULL, sep, &save)) {
		tok = trim(tok);
		if (*tok)
			rc = sb_profile_add_to_list(&tmp, f, tok, err);
	}
	free(copy);
	if (rc < 0) {
		sb_profile_clear_list(&tmp, f);
		return -1;
	}
	sb_profile_clear_list(p, f);
	struct names from = names_of(&tmp, f), to = names_of(p, f);
	*to.items = *from.items;
	*to.n = *from.n;
	return 0;
}

/* "K=V;K2=V2" as the seed: blanks around names and values trimmed, empty
 * items skipped; an item without '=' is an error (the seed dropped it
 * silently, which hides typos). */
static int set_env_vars_text(struct sb_profile *p, const char *v,
			     struct sb_err *err)
{
	struct sb_profile tmp = {0};
	char *copy = strdup(v), *save = NULL;
	size_t item = 0;
	int rc = 0;
	if (!copy)
		return sb_err_set(err, ENOMEM, "out of memory");
	for (char *tok = strtok_r(copy, ";", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ";", &save)) {
		item++;
		tok = trim(tok);
		if (!*tok)
			continue;
		char *eq = strchr(tok, '=');
		if (!eq) {
			rc = sb_err_set(
				err, EINVAL,
				"key \"env_vars\": item #%zu has no '=' "
				"(expected K=V;K2=V2)",
				item);
			break;
		}
		*eq = '\0';
		rc = sb_profile_add_env_var(&tmp, trim(tok), trim(eq + 1), err);
	}
	free(copy);
	if (rc < 0) {
		sb_profile_clear_env_vars(&tmp);
		return -1;
	}
	sb_profile_clear_env_vars(p);
	p->env_vars = tmp.env_vars;
	p->n_env_vars = tmp.n_env_vars;
	return 0;
}

int sb_profile_set_key(struct sb_profile *p, const char *key, const char *value,
		       struct sb_err *err)
{
	const struct sb_key *k = sb_profile_key(key, strlen(key));
	if (!k) {
		char q[SB_CFG_QUOTE_MAX];
		sb_cfg_quote(q, sizeof q, key);
		return sb_err_set(err, EINVAL, "key %s: unknown key", q);
	}
	if (!value) {
		switch (k->field) {
		case SB_F_GPU:
			return set_gpu(p, key, NULL, err);
		case SB_F_TEMPLATE:
			return set_template(p, key, NULL, err);
		case SB_F_SECRETS:
		case SB_F_SECCOMP_DENY:
		case SB_F_SECCOMP_ALLOW:
		case SB_F_SLOT_GPUS:
		case SB_F_ALLOW_CIDRS:
		case SB_F_DENY_CIDRS:
			sb_profile_clear_list(p, k->field);
			return 0;
		case SB_F_ENV_VARS:
			sb_profile_clear_env_vars(p);
			return 0;
		default:
			return sb_err_set(err, EINVAL,
					  "key \"%s\": a value is required, "
					  "got null",
					  key);
		}
	}
	if (k->kind == SB_KEY_SCALAR && strlen(value) > SB_CFG_MAX_STRING)
		return sb_err_set(err, E2BIG,
				  "key \"%s\": value longer than %d bytes", key,
				  SB_CFG_MAX_STRING);

	switch (k->field) {
	case SB_F_IMAGE:
		return set_image(p, key, value, err);
	case SB_F_GPU:
		return set_gpu(p, key, value, err);
	case SB_F_CPU:
		return set_double(&p->cpu, key, value, false, 1024, err);
	case SB_F_MEMORY:
		return set_memory_mb(&p->memory_mb, key, value, err);
	case SB_F_SANDBOX_MEMORY:
		return set_memory_mb(&p->sandbox_memory_mb, key, value, err);
	case SB_F_PIDS_MAX:
		return set_i64(&p->pids_max, key, value, 8, 4194304, err);
	case SB_F_DISK:
		return set_i64(&p->disk_mb, key, value, 0, 16777216, err);
	case SB_F_NETWORK:
		return set_network(p, key, value, err);
	case SB_F_PTYS_MAX:
		/* kernel.pty.max is 4096 at most by default */
		return set_i64(&p->ptys_max, key, value, 1, 4096, err);
	case SB_F_MAX_PROCESSES:
		return set_i64(&p->max_processes, key, value, 1, 256, err);
	case SB_F_PROCESS_OUTPUT:
		return set_i64(&p->process_output_bytes, key, value, 4096,
			       INT64_C(64) << 20, err);
	case SB_F_SLOTS:
		return set_int(&p->slots_per_sandbox, key, value, 1, 1000, err);
	case SB_F_MIN:
		/* against max_sandboxes in sb_profile_check(), once all
		 * sources are in */
		return set_int(&p->min_sandboxes, key, value, 0, 10000, err);
	case SB_F_MAX:
		return set_int(&p->max_sandboxes, key, value, 1, 10000, err);
	case SB_F_PRESTART:
		return set_int(&p->prestart_slots, key, value, 0, 100000, err);
	case SB_F_IDLE:
		return set_double(&p->idle_timeout_s, key, value, true,
				  MAX_TIMEOUT_S, err);
	case SB_F_LIFETIME:
		return set_double(&p->max_lifetime_s, key, value, true,
				  MAX_TIMEOUT_S, err);
	case SB_F_ACQUIRE:
		return set_double(&p->acquire_timeout_s, key, value, false,
				  MAX_TIMEOUT_S, err);
	case SB_F_EXECUTION:
		return set_double(&p->execution_timeout_s, key, value, false,
				  MAX_TIMEOUT_S, err);
	case SB_F_WORKSPACE:
		return set_workspace(p, key, value, err);
	case SB_F_OUTPUT_LIMIT:
		return set_i64(&p->output_limit_bytes, key, value, 1024,
			       INT64_C(1) << 30, err);
	case SB_F_MAX_FILE:
		return set_i64(&p->max_file_bytes, key, value, 1,
			       INT64_C(4) << 30, err);
	case SB_F_SNAPSHOT_BYTES:
		return set_i64(&p->snapshot_max_bytes, key, value, 0,
			       INT64_C(1) << 50, err);
	case SB_F_SNAPSHOT_ENTRIES:
		return set_i64(&p->snapshot_max_entries, key, value, 1,
			       10000000, err);
	case SB_F_SECRETS:
	case SB_F_SECCOMP_DENY:
	case SB_F_SECCOMP_ALLOW:
	case SB_F_SLOT_GPUS:
	case SB_F_ALLOW_CIDRS:
	case SB_F_DENY_CIDRS:
		return set_list_text(p, k->field, value, err);
	case SB_F_GPU_PER_SLOT:
		return set_int(&p->gpu_per_slot, key, value, 0, SB_GPU_MAX,
			       err);
	case SB_F_ENV_VARS:
		return set_env_vars_text(p, value, err);
	case SB_F_SECCOMP:
		return set_seccomp(p, key, value, err);
	case SB_F_TEMPLATE:
		return set_template(p, key, value, err);
	case SB_F_USERNS:
		return set_bool(&p->userns, key, value, err);
	case SB_F_COUNT:
		break;
	}
	return sb_err_set(err, EINVAL, "key \"%s\": unknown key", key);
}

/* ---- whole profiles ---- */

void sb_profile_free(struct sb_profile *p)
{
	free(p->image);
	free(p->gpu);
	free(p->network);
	free(p->workspace_dir);
	free(p->workspace_template);
	free(p->template_dir);
	sb_profile_clear_list(p, SB_F_SECRETS);
	sb_profile_clear_list(p, SB_F_SECCOMP_DENY);
	sb_profile_clear_list(p, SB_F_SECCOMP_ALLOW);
	sb_profile_clear_list(p, SB_F_SLOT_GPUS);
	sb_profile_clear_list(p, SB_F_ALLOW_CIDRS);
	sb_profile_clear_list(p, SB_F_DENY_CIDRS);
	sb_profile_clear_env_vars(p);
	memset(p, 0, sizeof *p);
}

/* Copy a list of names into an empty one; on failure what was copied
 * stays counted, for sb_profile_free(). */
static int copy_names(char ***dst, size_t *dst_n, char *const *src,
		      size_t src_n)
{
	if (!src_n)
		return 0;
	if (!(*dst = calloc(src_n, sizeof **dst)))
		return -1;
	for (; *dst_n < src_n; (*dst_n)++)
		if (!((*dst)[*dst_n] = strdup(src[*dst_n])))
			return -1;
	return 0;
}

int sb_profile_copy(struct sb_profile *dst, const struct sb_profile *src,
		    const char *name, struct sb_err *err)
{
	*dst = *src;
	snprintf(dst->name, sizeof dst->name, "%s", name);
	dst->image = dst->gpu = dst->network = dst->workspace_dir = NULL;
	dst->workspace_template = dst->template_dir = NULL;
	dst->template_id[0] = '\0';
	dst->secrets = dst->seccomp_deny = dst->seccomp_allow = NULL;
	dst->n_secrets = dst->n_seccomp_deny = dst->n_seccomp_allow = 0;
	dst->slot_gpus = dst->allow_cidrs = dst->deny_cidrs = NULL;
	dst->n_slot_gpus = dst->n_allow_cidrs = dst->n_deny_cidrs = 0;
	dst->env_vars = NULL;
	dst->n_env_vars = 0;
	dst->seccomp_fd = -1; /* each profile compiles its own */
	if (!(dst->image = strdup(src->image)) ||
	    (src->gpu && !(dst->gpu = strdup(src->gpu))) ||
	    !(dst->network = strdup(src->network)) ||
	    !(dst->workspace_dir = strdup(src->workspace_dir)) ||
	    (src->workspace_template &&
	     !(dst->workspace_template = strdup(src->workspace_template))))
		goto oom;
	if (copy_names(&dst->secrets, &dst->n_secrets, src->secrets,
		       src->n_secrets) < 0 ||
	    copy_names(&dst->seccomp_deny, &dst->n_seccomp_deny,
		       src->seccomp_deny, src->n_seccomp_deny) < 0 ||
	    copy_names(&dst->seccomp_allow, &dst->n_seccomp_allow,
		       src->seccomp_allow, src->n_seccomp_allow) < 0 ||
	    copy_names(&dst->slot_gpus, &dst->n_slot_gpus, src->slot_gpus,
		       src->n_slot_gpus) < 0 ||
	    copy_names(&dst->allow_cidrs, &dst->n_allow_cidrs, src->allow_cidrs,
		       src->n_allow_cidrs) < 0 ||
	    copy_names(&dst->deny_cidrs, &dst->n_deny_cidrs, src->deny_cidrs,
		       src->n_deny_cidrs) < 0)
		goto oom;
	if (src->n_env_vars) {
		dst->env_vars = calloc(src->n_env_vars, sizeof *dst->env_vars);
		if (!dst->env_vars)
			goto oom;
		for (size_t i = 0; i < src->n_env_vars; i++) {
			struct sb_kv *kv = &dst->env_vars[i];
			dst->n_env_vars = i + 1; /* freed even half made */
			kv->key = strdup(src->env_vars[i].key);
			kv->value = strdup(src->env_vars[i].value);
			if (!kv->key || !kv->value)
				goto oom;
		}
	}
	return 0;
oom:
	sb_profile_free(dst);
	return sb_err_set(err, ENOMEM, "out of memory");
}

/* gpu_per_slot and slot_gpus choose among the gpu set: they need one
 * made of device numbers, exclude each other, and with a listed set stay
 * inside it ("all" is checked against the host by the daemon). */
static int check_gpu_choice(const struct sb_profile *p, struct sb_err *err)
{
	int devs[SB_GPU_MAX], n = 0, item[SB_GPU_MAX], k = 0;
	if (!gpu_per_slot_choice(p))
		return 0;
	if (p->gpu_per_slot && p->n_slot_gpus)
		return sb_err_set(err, EINVAL,
				  "profile \"%s\": gpu_per_slot and slot_gpus "
				  "exclude each other (use one)",
				  p->name);
	bool all = p->gpu && strcmp(p->gpu, "all") == 0;
	if (!p->gpu || (!all && !gpu_list_parse(p->gpu, devs, &n)))
		return sb_err_set(err, EINVAL,
				  "profile \"%s\": %s needs gpu: all or a list "
				  "of GPU numbers like \"0,1\"",
				  p->name,
				  p->gpu_per_slot ? "gpu_per_slot"
						  : "slot_gpus");
	if (all)
		return 0;
	if (p->gpu_per_slot > n)
		return sb_err_set(err, EINVAL,
				  "profile \"%s\": gpu_per_slot %d is more "
				  "than the %d GPU(s) of gpu \"%s\"",
				  p->name, p->gpu_per_slot, n, p->gpu);
	for (size_t i = 0; i < p->n_slot_gpus; i++) {
		if (!gpu_list_parse(p->slot_gpus[i], item, &k))
			continue; /* none, all */
		for (int j = 0; j < k; j++) {
			bool in = false;
			for (int m = 0; m < n; m++)
				in = in || devs[m] == item[j];
			if (!in)
				return sb_err_set(
					err, EINVAL,
					"profile \"%s\": slot_gpus item #%zu "
					"names GPU %d, which is not in gpu "
					"\"%s\"",
					p->name, i + 1, item[j], p->gpu);
		}
	}
	return 0;
}

/* userns when a profile does not say: off. With the init zygote its cold
 * start is 7-9 ms here against 5-6 without (bench/userns_ab), within the
 * 10 ms target, and the whole e2e suite built with
 * -DSLOTBOX_USERNS_DEFAULT=1 passes but for tests of the default itself;
 * but hosts that forbid root a user namespace (containers) would start no
 * sandbox at all, and older kernels lack what store images need there
 * (docs/isolation.md). Turning it on keeps it off where it cannot serve
 * (egress, gpu, 1000 slots). */
#ifndef SLOTBOX_USERNS_DEFAULT
#define SLOTBOX_USERNS_DEFAULT 0
#endif
#define USERNS_DEFAULT (SLOTBOX_USERNS_DEFAULT != 0)

void sb_profile_settle(struct sb_profile *p)
{
	/* Half a sandbox: one acquire in a fresh sandbox starts nothing
	 * more, and one-slot sandboxes start only on demand (as before), but
	 * a trainer leasing slots one after another finds the next sandbox
	 * started while it leases the second half of the last one (a start
	 * is 5-18 ms here; half of a 10-slot sandbox is about 8 ms of
	 * acquires). */
	if (p->prestart_slots < 0)
		p->prestart_slots = p->slots_per_sandbox / 2;
	if (p->userns < 0)
		p->userns = USERNS_DEFAULT &&
			    strcmp(p->network, "egress") != 0 && !p->gpu &&
			    p->slots_per_sandbox < 1000;
}

/* What a sandbox in its own user namespace cannot have (yet): egress
 * veth pairs and GPU device nodes need the host's capabilities, which
 * its init gives up; its root takes the last uid of its 1000. */
static int check_userns(const struct sb_profile *p, struct sb_err *err)
{
	if (p->userns != 1)
		return 0;
	if (strcmp(p->network, "egress") == 0 || p->gpu)
		return sb_err_set(err, EINVAL,
				  "profile \"%s\": userns: true does not "
				  "support %s (set userns: false)",
				  p->name, p->gpu ? "gpu" : "network: egress");
	if (p->slots_per_sandbox > 999)
		return sb_err_set(err, EINVAL,
				  "profile \"%s\": userns: true allows at "
				  "most 999 slots_per_sandbox",
				  p->name);
	return 0;
}

int sb_profile_check(const struct sb_profile *p, struct sb_err *err)
{
	if (check_gpu_choice(p, err) < 0 || check_userns(p, err) < 0)
		return -1;
	if (p->min_sandboxes > p->max_sandboxes)
		return sb_err_set(err, EINVAL,
				  "profile \"%s\": min_sandboxes (%d) is "
				  "greater than max_sandboxes (%d)",
				  p->name, p->min_sandboxes, p->max_sandboxes);
	for (size_t i = 0; i < p->n_seccomp_deny; i++)
		for (size_t j = 0; j < p->n_seccomp_allow; j++)
			if (strcmp(p->seccomp_deny[i], p->seccomp_allow[j]) ==
			    0)
				return sb_err_set(
					err, EINVAL,
					"profile \"%s\": system call \"%s\" is "
					"in both seccomp_deny and "
					"seccomp_allow",
					p->name, p->seccomp_deny[i]);
	return 0;
}

/* ---- the config ---- */

struct sb_profile *sb_config_find_mut(struct sb_config *cfg, const char *name,
				      size_t len)
{
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (strlen(cfg->profiles[i].name) == len &&
		    memcmp(cfg->profiles[i].name, name, len) == 0)
			return &cfg->profiles[i];
	return NULL;
}

const struct sb_profile *sb_config_find(const struct sb_config *cfg,
					const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

struct sb_profile *sb_config_add(struct sb_config *cfg,
				 const struct sb_profile *tmpl,
				 const char *name, struct sb_err *err)
{
	if (cfg->n_profiles >= SB_CFG_MAX_PROFILES) {
		sb_err_set(err, E2BIG, "more than %d profiles",
			   SB_CFG_MAX_PROFILES);
		return NULL;
	}
	/* Grow by doubling: up to 256 entries, a handful of reallocs. */
	size_t n = cfg->n_profiles;
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
		size_t cap = n ? n * 2 : 4;
		struct sb_profile *np =
			realloc(cfg->profiles, cap * sizeof *np);
		if (!np) {
			sb_err_set(err, ENOMEM, "out of memory");
			return NULL;
		}
		cfg->profiles = np;
	}
	struct sb_profile *p = &cfg->profiles[n];
	if (sb_profile_copy(p, tmpl, name, err) < 0)
		return NULL;
	cfg->n_profiles++;
	return p;
}

void sb_config_warn(struct sb_config *cfg, const char *fmt, ...)
{
	char msg[SB_ERR_MSG_MAX];
	va_list ap;
	if (cfg->n_warnings >= SB_CFG_MAX_WARNINGS)
		return;
	if (!cfg->warnings && !(cfg->warnings = calloc(SB_CFG_MAX_WARNINGS,
						       sizeof *cfg->warnings)))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if ((cfg->warnings[cfg->n_warnings] = strdup(msg)))
		cfg->n_warnings++;
}

void sb_config_free(struct sb_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_warnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	for (size_t i = 0; i < cfg->n_profiles; i++)
		sb_profile_free(&cfg->profiles[i]);
	free(cfg->profiles);
	free(cfg->default_profile);
	memset(cfg, 0, sizeof *cfg);
}

/* The whole of an open regular file, at most SB_CFG_MAX_FILE bytes. */
static int read_all(int fd, const char *path, size_t size_hint, char **out,
		    size_t *out_len, struct sb_err *err)
{
	/* Read to EOF rather than trusting st_size: the file may change. */
	size_t cap = size_hint + 1, len = 0;
	char *buf = malloc(cap);
	int rc = -1;
	if (!buf)
		return sb_err_set(err, ENOMEM, "out of memory");
	for (;;) {
		if (len == cap) {
			char *nb = cap > SB_CFG_MAX_FILE
					   ? NULL
					   : realloc(buf, cap * 2);
			if (!nb) {
				if (cap > SB_CFG_MAX_FILE)
					sb_err_set(err, EFBIG,
						   "profiles file %s is larger "
						   "than %d bytes",
						   path, SB_CFG_MAX_FILE);
				else
					sb_err_set(err, ENOMEM,
						   "out of memory");
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sb_err_sys(err, "cannot read profiles file %s", path);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	return rc;
}

int sb_config_load(struct sb_config *cfg, const char *path, char *const *envp,
		   struct sb_err *err)
{
	memset(cfg, 0, sizeof *cfg);
	if (!path)
		return sb_config_load_string(cfg, NULL, 0, NULL, envp, err);

	_cleanup_fd_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	if (fd < 0)
		return sb_err_sys(err, "cannot open profiles file %s", path);
	if (fstat(fd, &st) < 0)
		return sb_err_sys(err, "cannot stat profiles file %s", path);
	/* A directory would read as an empty file: no profiles, no error. */
	if (!S_ISREG(st.st_mode))
		return sb_err_set(err, EINVAL,
				  "profiles file %s is not a regular file",
				  path);
	if (st.st_size > SB_CFG_MAX_FILE)
		return sb_err_set(err, EFBIG,
				  "profiles file %s is larger than %d bytes",
				  path, SB_CFG_MAX_FILE);
	if (read_all(fd, path, (size_t)st.st_size, &buf, &len, err) < 0)
		return -1;
	int rc = sb_config_load_string(cfg, buf, len, path, envp, err);
	free(buf);
	return rc;
}
