/* SPDX-License-Identifier: Apache-2.0 */
/* secrets.c - load named secret files (see secrets.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "config/secrets.h"

static bool key_ok(const char *k, size_t n)
{
	if (n == 0 || n > 255 || (k[0] >= '0' && k[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!(c == '_' || (c >= 'A' && c <= 'Z') ||
		      (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* Read the whole file (bounded), refusing what someone else could have
 * planted or read: symlinks, non-regular files, files not owned by root or
 * with any group/other permission bit. */
static int read_secret_file(int dirfd, const char *dir, const char *name,
			    char *buf, size_t *len, struct sb_err *err)
{
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return sb_err_set(err, EINVAL, "secret \"%s\": bad name", name);
	_cleanup_fd_ int fd =
		openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sb_err_sys(err, "secret \"%s\": %s/%s", name, dir, name);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return sb_err_sys(err, "secret \"%s\": stat", name);
	if (!S_ISREG(st.st_mode))
		return sb_err_set(err, EINVAL,
				  "secret \"%s\": %s/%s is not a regular file",
				  name, dir, name);
	struct sb_err why;
	if (sb_check_private_fd(fd, &why) < 0)
		return sb_err_set(err, EPERM, "secret \"%s\": %s/%s %s", name,
				  dir, name, why.msg);
	if (st.st_size > SB_SECRET_FILE_MAX)
		return sb_err_set(err, EFBIG,
				  "secret \"%s\": larger than %d bytes", name,
				  SB_SECRET_FILE_MAX);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, SB_SECRET_FILE_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sb_err_sys(err, "secret \"%s\": read", name);
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == SB_SECRET_FILE_MAX)
			return sb_err_set(err, EFBIG,
					  "secret \"%s\": larger than %d "
					  "bytes",
					  name, SB_SECRET_FILE_MAX - 1);
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

static int set_pair(struct sb_secret_env *s, const char *k, size_t klen,
		    const char *v, size_t vlen)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strlen(s->keys[i]) == klen &&
		    memcmp(s->keys[i], k, klen) == 0) {
			char *nv = strndup(v, vlen);
			if (!nv)
				return -1;
			explicit_bzero(s->values[i], strlen(s->values[i]));
			free(s->values[i]);
			s->values[i] = nv;
			return 0;
		}
	}
	char **nk = realloc(s->keys, (s->n + 1) * sizeof *nk);
	if (nk)
		s->keys = nk;
	char **nvv = nk ? realloc(s->values, (s->n + 1) * sizeof *nvv) : NULL;
	if (!nvv)
		return -1;
	s->values = nvv;
	s->keys[s->n] = strndup(k, klen);
	s->values[s->n] = strndup(v, vlen);
	if (!s->keys[s->n] || !s->values[s->n]) {
		free(s->keys[s->n]);
		free(s->values[s->n]);
		return -1;
	}
	s->n++;
	return 0;
}

static int parse_lines(const char *name, const char *buf, size_t len,
		       struct sb_secret_env *out, struct sb_err *err)
{
	int line = 0;
	for (const char *p = buf; p < buf + len;) {
		const char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		const char *next = nl ? nl + 1 : buf + len;
		size_t n = (size_t)((nl ? nl : buf + len) - p);
		line++;
		if (n && p[n - 1] == '\r')
			n--;
		if (n && p[0] != '#') {
			const char *eq = memchr(p, '=', n);
			if (!eq || !key_ok(p, (size_t)(eq - p)) ||
			    memchr(p, '\0', n))
				return sb_err_set(err, EINVAL,
						  "secret \"%s\", line %d: not "
						  "KEY=VALUE",
						  name, line);
			if (set_pair(out, p, (size_t)(eq - p), eq + 1,
				     (size_t)(p + n - eq - 1)) < 0)
				return sb_err_set(err, ENOMEM, "out of memory");
		}
		p = next;
	}
	return 0;
}

int sb_secrets_load(const char *dir, char *const *names, size_t n_names,
		    struct sb_secret_env *out, struct sb_err *err)
{
	memset(out, 0, sizeof *out);
	if (n_names == 0)
		return 0;
	_cleanup_fd_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return sb_err_sys(err, "secrets directory %s", dir);
	char *buf = malloc(SB_SECRET_FILE_MAX + 1);
	if (!buf)
		return sb_err_set(err, ENOMEM, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < n_names && rc == 0; i++) {
		size_t len = 0;
		rc = read_secret_file(dirfd, dir, names[i], buf, &len, err);
		if (rc == 0)
			rc = parse_lines(names[i], buf, len, out, err);
		explicit_bzero(buf, SB_SECRET_FILE_MAX + 1);
	}
	free(buf);
	if (rc < 0)
		sb_secrets_free(out);
	return rc;
}

void sb_secrets_free(struct sb_secret_env *s)
{
	for (size_t i = 0; i < s->n; i++) {
		explicit_bzero(s->values[i], strlen(s->values[i]));
		free(s->values[i]);
		free(s->keys[i]);
	}
	free(s->keys);
	free(s->values);
	memset(s, 0, sizeof *s);
}
