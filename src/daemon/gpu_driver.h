/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_driver.h - the NVIDIA driver's user-space files that GPU slots get.
 *
 * As nvidia-container-toolkit does: the driver libraries are found with
 * `ldconfig -p` (libcuda, libcudadebugger, libnvidia-*, libnvcuvid,
 * libnvoptix; symlinks resolved to the real files) and its tools
 * (nvidia-smi, ...) in /usr/local/nvidia/bin and $PATH, once, when the
 * daemon starts. slotbox-init binds them read-only into every slot of a
 * GPU profile under /usr/local/nvidia/{lib64,bin}, whatever the image
 * (mounts.c). Other directories of a host /usr/local/nvidia (a driver
 * container's glibc/, lib/) are bound whole, as that tree is often a mount
 * of its own that the slot's overlay of / does not show. */
#ifndef SLOTBOX_DAEMON_GPU_DRIVER_H
#define SLOTBOX_DAEMON_GPU_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct gpu_driver {
	/* slotbox-init arguments: "--gpu-lib" "SONAME=/real/path",
	 * "--gpu-bin" "/real/path=NAME", "--gpu-dir" "/host/dir" */
	char **args;
	size_t n_args;
	size_t n_libs, n_bins, n_dirs;
};

/* Fill g from the host; 0, or -1 with why (out of memory only: a host
 * without the files gets an empty list and a warning in the log). */
int gpu_driver_discover(struct gpu_driver *g, struct sb_err *err);
void gpu_driver_free(struct gpu_driver *g);

/* One line of `ldconfig -p` ("\tlibcuda.so.1 (libc6,x86-64) => /p"): the
 * soname and path of a driver library of this machine's ABI; false for
 * anything else. name and path have room for 256 and 4096 bytes. */
bool gpu_driver_ldconfig_line(const char *line, char *name, char *path);

/* The host's GPUs: the N of every /dev/nvidiaN in dev_dir, ascending, at
 * most 64; returns how many. */
int gpu_host_devices(const char *dev_dir, int *out);

#endif
