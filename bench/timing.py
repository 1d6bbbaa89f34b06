# SPDX-License-Identifier: Apache-2.0
"""The one timing loop of the Python benchmark phases: fn() warm times,
then n timed calls, each sample in microseconds."""
import time


def timed(fn, n, warm=10):
    for _ in range(min(warm, n)):
        fn()
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1e6)
    return xs
