/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_driver.c - find the NVIDIA driver's user-space files on the host
 * (see gpu_driver.h). */
#include "daemon/gpu_driver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"

#define LDCONFIG_MAX_OUTPUT (8u << 20)
#define DRIVER_MAX_FILES 1024
#define NVIDIA_DIR "/usr/local/nvidia"

extern char **environ;

#if defined(__x86_64__)
#define LD_ABI "x86-64"
#elif defined(__aarch64__)
#define LD_ABI "AArch64"
#else
#define LD_ABI ""
#endif

/* The libraries the toolkit mounts for compute and utility work. */
static bool lib_wanted(const char *name)
{
	static const char *const prefixes[] = {
		"libcuda.so",	 "libcudadebugger.so", "libnvidia-",
		"libnvcuvid.so", "libnvoptix.so",
	};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

bool gpu_driver_ldconfig_line(const char *line, char *name, char *path)
{
	while (*line == ' ' || *line == '\t')
		line++;
	size_t nl = strcspn(line, " \t");
	const char *flags = strchr(line, '(');
	const char *arrow = strstr(line, " => ");
	if (nl == 0 || nl >= 256 || !flags || !arrow || flags > arrow)
		return false;
	const char *close = memchr(flags, ')', (size_t)(arrow - flags));
	if (!close)
		return false;
	/* "(libc6,x86-64)", "(libc6,x86-64, OS ABI: Linux 3.2.0)"; a 32-bit
	 * "(libc6)" is not ours. */
	char fl[128];
	size_t fn = (size_t)(close - flags);
	if (fn >= sizeof fl)
		return false;
	memcpy(fl, flags, fn);
	fl[fn] = '\0';
	if (!LD_ABI[0] || !strstr(fl, LD_ABI))
		return false;
	memcpy(name, line, nl);
	name[nl] = '\0';
	const char *p = arrow + 4;
	size_t pl = strcspn(p, "\r\n");
	if (pl == 0 || pl >= 4096 || p[0] != '/')
		return false;
	memcpy(path, p, pl);
	path[pl] = '\0';
	return lib_wanted(name);
}

/* `ldconfig -p` through a pipe, fixed argv, no shell; owned text or NULL. */
static char *run_ldconfig(void)
{
	static const char *const cands[] = {
		"/sbin/ldconfig", "/usr/sbin/ldconfig", "/sbin/ldconfig.real"};
	const char *exe = NULL;
	for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !exe; i++)
		if (access(cands[i], X_OK) == 0)
			exe = cands[i];
	int pfd[2];
	if (!exe || pipe2(pfd, O_CLOEXEC) < 0)
		return NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
					 O_WRONLY, 0);
	char *const argv[] = {(char *)exe, "-p", NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		return NULL;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		if (len == cap) {
			char *nb = cap >= LDCONFIG_MAX_OUTPUT
					   ? NULL
					   : realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(pfd[0], buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(pfd[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (buf)
		buf[len] = '\0';
	return buf;
}

static int push(struct gpu_driver *g, const char *flag, const char *a,
		const char *b)
{
	if (g->n_args + 2 > DRIVER_MAX_FILES * 2)
		return 0; /* bounded; what is past it is left out */
	char **n = realloc(g->args, (g->n_args + 2) * sizeof *n);
	if (!n)
		return -1;
	g->args = n;
	char *v = NULL;
	if (!(g->args[g->n_args] = strdup(flag)))
		return -1;
	g->n_args++;
	if ((b ? asprintf(&v, "%s=%s", a, b) : asprintf(&v, "%s", a)) < 0) {
		g->n_args--;
		free(g->args[g->n_args]);
		return -1;
	}
	g->args[g->n_args++] = v;
	return 0;
}

/* Is soname already listed (ldconfig's first entry is the loader's)? */
static bool have_lib(const struct gpu_driver *g, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i + 1 < g->n_args; i += 2)
		if (strcmp(g->args[i], "--gpu-lib") == 0 &&
		    strncmp(g->args[i + 1], name, n) == 0 &&
		    g->args[i + 1][n] == '=')
			return true;
	return false;
}

static int find_libs(struct gpu_driver *g)
{
	_cleanup_free_ char *text = run_ldconfig();
	char name[256], path[4096], real[PATH_MAX];
	if (!text) {
		sb_log(SB_LOG_WARN, "gpu_driver", "why",
		       "cannot run ldconfig -p: no driver libraries for slots",
		       SB_LOG_END);
		return 0;
	}
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!gpu_driver_ldconfig_line(line, name, path) ||
		    have_lib(g, name) || !realpath(path, real))
			continue;
		if (push(g, "--gpu-lib", name, real) < 0)
			return -1;
		g->n_libs++;
	}
	return 0;
}

/* A real executable, not a wrapper script (an Ubuntu /usr/bin/nvidia-smi
 * that execs /usr/local/nvidia/bin/nvidia-smi would exec itself there). */
static bool is_binary(const char *path)
{
	struct stat st;
	char head[2];
	_cleanup_fd_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    !(st.st_mode & 0111))
		return false;
	return read(fd, head, 2) == 2 && memcmp(head, "#!", 2) != 0;
}

static int find_bins(struct gpu_driver *g)
{
	static const char *const tools[] = {
		"nvidia-smi", "nvidia-debugdump", "nvidia-persistenced",
		"nvidia-cuda-mps-control", "nvidia-cuda-mps-server"};
	const char *env_path = getenv("PATH");
	char dirs[8192], cand[4200], real[PATH_MAX];
	snprintf(dirs, sizeof dirs, NVIDIA_DIR "/bin:%s",
		 env_path ? env_path : "/usr/local/bin:/usr/bin:/bin");
	for (size_t t = 0; t < sizeof tools / sizeof tools[0]; t++) {
		for (const char *d = dirs; *d;) {
			size_t l = strcspn(d, ":");
			snprintf(cand, sizeof cand, "%.*s/%s", (int)l, d,
				 tools[t]);
			d += l + (d[l] == ':');
			if (cand[0] != '/' || !is_binary(cand) ||
			    !realpath(cand, real))
				continue;
			if (push(g, "--gpu-bin", real, tools[t]) < 0)
				return -1;
			g->n_bins++;
			break;
		}
	}
	return 0;
}

static int find_dirs(struct gpu_driver *g)
{
	_cleanup_dir_ DIR *d = opendir(NVIDIA_DIR);
	struct dirent *e;
	char path[512];
	struct stat st;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "bin") == 0 ||
		    strcmp(e->d_name, "lib64") == 0)
			continue;
		snprintf(path, sizeof path, NVIDIA_DIR "/%s", e->d_name);
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (push(g, "--gpu-dir", path, NULL) < 0)
			return -1;
		g->n_dirs++;
	}
	return 0;
}

int gpu_driver_discover(struct gpu_driver *g, struct sb_err *err)
{
	memset(g, 0, sizeof *g);
	if (find_libs(g) < 0 || find_bins(g) < 0 || find_dirs(g) < 0) {
		gpu_driver_free(g);
		return sb_err_set(err, ENOMEM, "out of memory");
	}
	char libs[16], bins[16], dirs[16];
	snprintf(libs, sizeof libs, "%zu", g->n_libs);
	snprintf(bins, sizeof bins, "%zu", g->n_bins);
	snprintf(dirs, sizeof dirs, "%zu", g->n_dirs);
	sb_log(g->n_libs ? SB_LOG_INFO : SB_LOG_WARN, "gpu_driver", "libs",
	       libs, "bins", bins, "dirs", dirs, "cuda",
	       have_lib(g, "libcuda.so.1") ? "found" : "missing", SB_LOG_END);
	return 0;
}

void gpu_driver_free(struct gpu_driver *g)
{
	for (size_t i = 0; i < g->n_args; i++)
		free(g->args[i]);
	free(g->args);
	memset(g, 0, sizeof *g);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int gpu_host_devices(const char *dev_dir, int *out)
{
	_cleanup_dir_ DIR *d = opendir(dev_dir);
	struct dirent *e;
	int n = 0;
	while (d && n < 64 && (e = readdir(d))) {
		const char *s = e->d_name;
		if (strncmp(s, "nvidia", 6) != 0 || !s[6])
			continue;
		char *end;
		long v = strtol(s + 6, &end, 10);
		if (*end || v < 0 || v >= 64 || s[6] == '+' || s[6] == '-')
			continue;
		out[n++] = (int)v;
	}
	qsort(out, (size_t)n, sizeof *out, cmp_int);
	return n;
}
