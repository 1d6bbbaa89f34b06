/* SPDX-License-Identifier: Apache-2.0 */
/* fake_cuda.c - a stand-in libcuda.so.1 (tests/e2e/test_gpu.py): only
 * found by `ldconfig -p` and bound into GPU slots, never called. */
int cuInit(unsigned flags);

int cuInit(unsigned flags)
{
	(void)flags;
	return 100; /* CUDA_ERROR_NO_DEVICE */
}
