/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_metrics.h - GPU utilisation and memory, per device and per slot.
 *
 * Where NVML is present (libnvidia-ml.so.1, or the library the
 * SLOTBOX_NVML_LIBRARY variable names, dlopen'd at start), a timer samples
 * it every SLOTBOX_GPU_SAMPLE_S seconds (default 2) in libuv's thread pool,
 * never on the event loop: the devices' utilisation and memory, and the
 * processes using them (their memory, their SM utilisation samples). Each
 * process is attributed to its slot through its cgroup (/proc/PID/cgroup:
 * .../slotbox/<instance>/<sandbox>/s<i>/...). /metrics and GET /v1/status
 * (so `slotbox top`) show the latest sample. Without NVML: one info line in
 * the log, no GPU rows, no error. */
#ifndef SLOTBOX_POOL_GPU_METRICS_H
#define SLOTBOX_POOL_GPU_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct pools;

/* dlopen NVML and start sampling; 0 also when NVML is absent. */
int gpu_metrics_start(uv_loop_t *loop);
/* Stop the timer (the loop can then end). */
void gpu_metrics_stop(void);

/* The Prometheus lines of the latest sample (owned), NULL when there is
 * none or out of memory. */
char *gpu_metrics_text(const struct pools *ps);

/* {"devices": [...], "slots": [...]} of the latest sample, NULL when
 * there is none. */
json_t *gpu_metrics_json(const struct pools *ps);

/* "<sandbox>" and slot index from one /proc/PID/cgroup text; false when
 * the process is in no slot. sandbox has room for 64 bytes. */
bool gpu_metrics_cgroup_slot(const char *text, char *sandbox, int *slot);

#endif
