/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_mounts.c - what a GPU profile's slot sees of the NVIDIA driver.
 *
 * Once per sandbox, init builds the driver tree (the files the daemon
 * found, daemon/gpu_driver.h) in a small tmpfs of its own: lib64/ with a
 * read-only bind of each library's real file plus its soname symlinks
 * (libcuda.so.1 -> libcuda.so.580.1), bin/ with the tools, and a
 * read-only bind of each other directory of the host's /usr/local/nvidia;
 * then that tmpfs turns read-only. Each slot binds the tree (recursively,
 * one mount) on its /usr/local/nvidia, whatever its image, and gets the
 * device nodes of its own GPUs only, in its own mount namespace: a slot
 * assigned GPU 0 has no /dev/nvidia1 to open. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/gpu_assign.h"
#include "init/init.h"

#define TREE_OPTS "mode=0755,size=4m"
#define RO_BIND (MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)

static void tree_path(const struct init_cfg *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/nvidia", cfg->scratch);
}

/* A file name of our own making: no '/', not "." or "..". */
static bool plain_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0 && strlen(s) < 256;
}

static void skip(const char *what, const char *path)
{
	fprintf(stderr, "slotbox-init: gpu: left out %s %s: %s\n", what, path,
		strerror(errno));
}

/* Bind the host file src read-only on a new empty file dir/name. */
static int bind_file_ro(const char *src, const char *dir, const char *name,
			mode_t mode)
{
	char target[4400];
	snprintf(target, sizeof target, "%s/%s", dir, name);
	int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1; /* first one wins */
	close(fd);
	if (mount(src, target, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, target, NULL, RO_BIND, NULL) < 0)
		return -1;
	return 0;
}

static void add_lib(const char *dir, const char *arg)
{
	char soname[256];
	const char *eq = strchr(arg, '=');
	if (!eq || (size_t)(eq - arg) >= sizeof soname || eq[1] != '/')
		return;
	memcpy(soname, arg, (size_t)(eq - arg));
	soname[eq - arg] = '\0';
	const char *real = eq + 1;
	const char *base = strrchr(real, '/') + 1;
	if (!plain_name(soname) || !plain_name(base))
		return;
	if (bind_file_ro(real, dir, base, 0644) < 0) {
		skip("library", real);
		return;
	}
	char link[4400];
	snprintf(link, sizeof link, "%s/%s", dir, soname);
	if (strcmp(soname, base) != 0 && symlink(base, link) < 0 &&
	    errno != EEXIST)
		skip("soname link", soname);
}

static void add_bin(const char *dir, const char *arg)
{
	char real[4096];
	const char *eq = strrchr(arg, '=');
	if (!eq || arg[0] != '/' || (size_t)(eq - arg) >= sizeof real ||
	    !plain_name(eq + 1))
		return;
	memcpy(real, arg, (size_t)(eq - arg));
	real[eq - arg] = '\0';
	if (bind_file_ro(real, dir, eq + 1, 0755) < 0)
		skip("tool", real);
}

static void add_dir(const char *tree, const char *src)
{
	const char *base = strrchr(src, '/');
	char target[4400];
	if (!base || !plain_name(base + 1))
		return;
	snprintf(target, sizeof target, "%s/%s", tree, base + 1);
	if ((mkdir(target, 0755) < 0 && errno != EEXIST) ||
	    mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount(NULL, target, NULL, RO_BIND, NULL) < 0)
		skip("directory", src);
}

int gpu_tree_prepare(const struct init_cfg *cfg, char *msg, size_t msglen)
{
	char tree[4200], sub[4300];
	if (!cfg->gpu)
		return 0;
	tree_path(cfg, tree, sizeof tree);
	if ((mkdir(tree, 0755) < 0 && errno != EEXIST) ||
	    mount("tmpfs", tree, "tmpfs", MS_NOSUID | MS_NODEV, TREE_OPTS) <
		    0) {
		snprintf(msg, msglen, "gpu: driver tree %s: %s", tree,
			 strerror(errno));
		return -1;
	}
	snprintf(sub, sizeof sub, "%s/lib64", tree);
	if (mkdir(sub, 0755) < 0)
		goto fail;
	for (int i = 0; i < cfg->n_gpu_libs; i++)
		add_lib(sub, cfg->gpu_libs[i]);
	snprintf(sub, sizeof sub, "%s/bin", tree);
	if (mkdir(sub, 0755) < 0)
		goto fail;
	for (int i = 0; i < cfg->n_gpu_bins; i++)
		add_bin(sub, cfg->gpu_bins[i]);
	for (int i = 0; i < cfg->n_gpu_dirs; i++)
		add_dir(tree, cfg->gpu_dirs[i]);
	if (mount(NULL, tree, NULL,
		  MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, TREE_OPTS) < 0)
		goto fail;
	return 0;
fail:
	snprintf(msg, msglen, "gpu: driver tree %s: %s", sub, strerror(errno));
	return -1;
}

/* Bind host device node /dev/name over an empty file in the slot's /dev;
 * a missing optional node is skipped. */
static int bind_dev(const char *root, const char *name, bool optional)
{
	char host[128], target[4200];
	snprintf(host, sizeof host, "/dev/%s", name);
	snprintf(target, sizeof target, "%s/dev/%s", root, name);
	if (access(host, F_OK) < 0)
		return optional ? 0 : -1;
	int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return -1;
	close(fd);
	return mount(host, target, NULL, MS_BIND, NULL);
}

/* Item index of "0;1,2;none" (the daemon writes one per slot; a shorter
 * list repeats). false when there is none. */
static bool slot_item(const char *list, int index, char *buf, size_t len)
{
	int n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ';';
	index %= n;
	const char *p = list;
	for (int i = 0; i < index; i++)
		p = strchr(p, ';') + 1;
	size_t l = strcspn(p, ";");
	if (l >= len)
		return false;
	memcpy(buf, p, l);
	buf[l] = '\0';
	return true;
}

/* The nodes for "all" (every /dev/nvidiaN there is) or a list. */
static int bind_gpus(const char *root, const char *gpus)
{
	char name[32];
	int devs[SB_GPU_MAX], n = 0;
	if (strcmp(gpus, "all") == 0) {
		for (int i = 0; i < SB_GPU_MAX; i++) {
			snprintf(name, sizeof name, "nvidia%d", i);
			if (bind_dev(root, name, true) < 0)
				return -1;
		}
		return 0;
	}
	if (strcmp(gpus, "none") == 0 || !gpu_list_parse(gpus, devs, &n))
		return 0; /* a free-form request names no node */
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof name, "nvidia%d", devs[i]);
		if (bind_dev(root, name, false) < 0)
			return -1;
	}
	return 0;
}

int gpu_setup_slot(const struct leader_cfg *lc, const char *root, char *msg,
		   size_t msglen)
{
	static const char *const ctl[] = {"nvidiactl", "nvidia-uvm",
					  "nvidia-uvm-tools", "nvidia-modeset"};
	const struct init_cfg *cfg = lc->init;
	char mine[SB_GPU_MAX * 4], path[4400], tree[4200];
	for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++)
		if (bind_dev(root, ctl[i], i > 0) < 0)
			goto fail_dev;
	const char *gpus = cfg->gpu;
	if (cfg->slot_gpus) {
		if (!slot_item(cfg->slot_gpus, lc->index, mine, sizeof mine)) {
			snprintf(msg, msglen, "gpu: no GPUs for slot %d",
				 lc->index);
			return -1;
		}
		gpus = mine;
	}
	if (bind_gpus(root, gpus) < 0) {
		snprintf(msg, msglen, "gpu: bind the device nodes of %s: %s",
			 gpus, strerror(errno));
		return -1;
	}
	/* MIG capabilities, read-only as on the host */
	snprintf(path, sizeof path, "%s/dev/nvidia-caps", root);
	if (access("/dev/nvidia-caps", F_OK) == 0 &&
	    ((mkdir(path, 0755) < 0 && errno != EEXIST) ||
	     mount("/dev/nvidia-caps", path, NULL, MS_BIND | MS_REC, NULL) <
		     0 ||
	     mount(NULL, path, NULL, RO_BIND | MS_NOEXEC, NULL) < 0)) {
		snprintf(msg, msglen, "gpu: bind /dev/nvidia-caps: %s",
			 strerror(errno));
		return -1;
	}
	tree_path(cfg, tree, sizeof tree);
	snprintf(path, sizeof path, "%s/usr/local/nvidia", root);
	if (mounts_mkdir_p(path, 0755) < 0 ||
	    mount(tree, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		snprintf(msg, msglen,
			 "gpu: bind the driver's files on "
			 "/usr/local/nvidia: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
fail_dev:
	snprintf(msg, msglen, "gpu: bind /dev/nvidiactl: %s", strerror(errno));
	return -1;
}
