/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_assign.h - which of a GPU profile's GPUs each slot gets.
 *
 * GPUs are named by their device number N (/dev/nvidiaN). A profile's gpu
 * set is "all" (every /dev/nvidiaN of the host, resolved by the daemon at
 * start into sb_profile.gpu_devs) or a list "0,1". Without per-slot keys
 * every slot gets the whole set. With gpu_per_slot: K, the slots of the
 * pool take K GPUs each in turn (slot number g = sandbox number * slots per
 * sandbox + index takes set[(g*K + k) mod n], k < K): with more slots than
 * GPUs, slots share GPUs round-robin. With slot_gpus, slot i of every
 * sandbox gets item i mod len: "none", "all" (the set) or a list "0,1".
 * A slot sees the device nodes of its GPUs only (mounts.c); nothing here
 * touches the host. */
#ifndef SLOTBOX_CONFIG_GPU_ASSIGN_H
#define SLOTBOX_CONFIG_GPU_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "config/profile.h"

/* "0,1,3": distinct device numbers 0..SB_GPU_MAX-1, no blanks. Fills out
 * (room for SB_GPU_MAX) and *n; false when s is not such a list. */
bool gpu_list_parse(const char *s, int *out, int *n);

/* A slot_gpus item: "none", "all" or a list as above. */
bool gpu_slot_item_valid(const char *s);

/* Does the profile choose GPUs per slot (gpu_per_slot or slot_gpus)? */
bool gpu_per_slot_choice(const struct sb_profile *p);

/* The device numbers slot `index` of sandbox `number` gets, from
 * p->gpu_devs; returns how many were written to out (room for
 * SB_GPU_MAX). */
int gpu_assign_slot(const struct sb_profile *p, int number, int index,
		    int *out);

/* "0,1" or "none" for an empty list. */
void gpu_list_format(const int *devs, int n, char *buf, size_t len);

#endif
