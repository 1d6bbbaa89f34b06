/* SPDX-License-Identifier: Apache-2.0 */
// gpu_probe.cu - the CUDA program scripts/gpu-check runs on the host and
// inside slots. One binary, three modes, one line of key=value output:
//   gpu_probe count             devices CUDA sees (0 when none, rc 0)
//   gpu_probe saxpy N REPS      y = a*x + y on N floats, REPS timed launches
//                               (cudaEvent), checked against the CPU
//   gpu_probe hold MIB SECONDS  allocate and touch MIB MiB, print "holding",
//                               sleep (the caller kills it)
// Statically linked against cudart (nvcc's default), so it needs only the
// driver's libcuda.so.1 at run time.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <vector>

static int fail(const char *what, cudaError_t e)
{
	printf("ok=0 step=%s error=\"%s\"\n", what, cudaGetErrorString(e));
	return 1;
}

#define CK(what, call)                                                         \
	do {                                                                   \
		cudaError_t e_ = (call);                                       \
		if (e_ != cudaSuccess)                                         \
			return fail(what, e_);                                 \
	} while (0)

__global__ void saxpy(int n, float a, const float *x, float *y)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		y[i] = a * x[i] + y[i];
}

static int count(void)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	printf("ok=1 devices=%d status=\"%s\"\n", e == cudaSuccess ? n : 0,
	       cudaGetErrorString(e));
	return 0;
}

static int run_saxpy(int n, int reps)
{
	std::vector<float> hx(n), hy(n);
	for (int i = 0; i < n; i++) {
		hx[i] = (float)(i % 1000) * 0.001f;
		hy[i] = 1.0f;
	}
	cudaDeviceProp prop;
	CK("properties", cudaGetDeviceProperties(&prop, 0));
	float *x, *y;
	CK("malloc", cudaMalloc(&x, (size_t)n * sizeof(float)));
	CK("malloc", cudaMalloc(&y, (size_t)n * sizeof(float)));
	CK("copy", cudaMemcpy(x, hx.data(), (size_t)n * sizeof(float),
			      cudaMemcpyHostToDevice));
	CK("copy", cudaMemcpy(y, hy.data(), (size_t)n * sizeof(float),
			      cudaMemcpyHostToDevice));
	int threads = 256, blocks = (n + threads - 1) / threads;
	saxpy<<<blocks, threads>>>(n, 2.0f, x, y); // warm-up, checked below
	CK("launch", cudaGetLastError());
	CK("sync", cudaDeviceSynchronize());
	cudaEvent_t t0, t1;
	CK("event", cudaEventCreate(&t0));
	CK("event", cudaEventCreate(&t1));
	CK("record", cudaEventRecord(t0));
	for (int r = 0; r < reps; r++)
		saxpy<<<blocks, threads>>>(n, 2.0f, x, y);
	CK("record", cudaEventRecord(t1));
	CK("sync", cudaEventSynchronize(t1));
	float ms = 0;
	CK("elapsed", cudaEventElapsedTime(&ms, t0, t1));
	CK("copy back", cudaMemcpy(hy.data(), y, (size_t)n * sizeof(float),
				   cudaMemcpyDeviceToHost));
	long bad = 0;
	for (int i = 0; i < n; i++) {
		float want = 1.0f + 2.0f * (reps + 1) * hx[i];
		if (std::fabs(hy[i] - want) > 1e-3f * (1.0f + std::fabs(want)))
			bad++;
	}
	double bytes = 3.0 * n * sizeof(float) * reps;
	printf("ok=%d device=\"%s\" n=%d reps=%d kernel_ms=%.3f "
	       "per_launch_us=%.2f gbps=%.1f wrong=%ld\n",
	       bad == 0, prop.name, n, reps, ms, 1000.0 * ms / reps,
	       bytes / (ms / 1000.0) / 1e9, bad);
	cudaFree(x);
	cudaFree(y);
	return bad == 0 ? 0 : 1;
}

static int hold(long mib, int seconds)
{
	void *p;
	size_t bytes = (size_t)mib << 20;
	CK("malloc", cudaMalloc(&p, bytes));
	CK("memset", cudaMemset(p, 1, bytes));
	CK("sync", cudaDeviceSynchronize());
	printf("holding mib=%ld pid=%d\n", mib, (int)getpid());
	fflush(stdout);
	sleep((unsigned)seconds);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "count") == 0)
		return count();
	if (argc >= 4 && strcmp(argv[1], "saxpy") == 0)
		return run_saxpy(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "hold") == 0)
		return hold(atol(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: gpu_probe count | saxpy N REPS | hold MIB S\n");
	return 2;
}
