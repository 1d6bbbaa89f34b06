/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_filter.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchlib.h"
#include "config/profile.h"
#include "sandbox/seccomp_bpf.h"

void bench_filter_load(int level, struct sock_fprog *out)
{
	struct sb_profile prof;
	struct sb_err err;
	struct stat st;
	int fd;
	sb_profile_defaults(&prof, "bench");
	if ((level ? seccomp_bpf_compile_at(&prof, level, &fd, &err)
		   : seccomp_bpf_compile(&prof, &fd, &err)) < 0)
		die("compile: %s", err.msg);
	if (fd < 0 || fstat(fd, &st) < 0)
		die("the default profile has no filter");
	struct sock_filter *ins = xcalloc(1, (size_t)st.st_size);
	if (pread(fd, ins, (size_t)st.st_size, 0) != st.st_size)
		die("read the program: %s", strerror(errno));
	close(fd);
	out->len = (unsigned short)(st.st_size / (off_t)sizeof *ins);
	out->filter = ins;
}
