#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A mini RL rollout against slotboxd, the way a trainer uses it.

N trajectories run at once. Each acquires a slot, writes a task file, runs a
few bash steps (the "agent's" tool calls), reads back an artifact, and gets a
reward from the output; then it releases the slot with a workspace reset.

    PYTHONPATH=clients/python python3 examples/rollout.py [--socket PATH] [-n 8]
"""
import argparse
import asyncio
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))

from slotbox import SlotboxToolBackend  # noqa: E402


async def trajectory(backend, i):
    a, b = random.randint(1, 99), random.randint(1, 99)
    slot = await backend.acquire(trajectory_id=f"traj-{i}")
    try:
        # the task, written as a file (never through a shell)
        await backend.execute_batch([(slot, "write_file", {"path": "task/nums.txt", "content": f"{a} {b}\n"})])
        # the "policy" writes a program and runs it: two tool calls
        steps = [
            (slot, "write_file", {"path": "solve.py", "content":
                "a, b = map(int, open('task/nums.txt').read().split())\nprint(a + b)\n"}),
            (slot, "bash", {"command": "python3 solve.py > answer.txt && cat answer.txt"}),
        ]
        results = await backend.execute_batch(steps, timeout_s=30)
        art = await backend.read_artifact(slot, "answer.txt")
        answer = art["content"].strip() if art["success"] else ""
        reward = 1.0 if answer == str(a + b) else 0.0
        return i, reward, results[-1].metadata.get("duration_ms", 0.0)
    finally:
        await backend.release(slot, reset_workspace=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", default=os.environ.get("SLOTBOX_SOCKET", "/run/slotbox/slotbox.sock"))
    ap.add_argument("-n", type=int, default=8)
    args = ap.parse_args()
    backend = SlotboxToolBackend(args.socket)
    await backend.start()
    out = await asyncio.gather(*(trajectory(backend, i) for i in range(args.n)))
    for i, reward, ms in sorted(out):
        print(f"traj-{i}: reward={reward:.1f} (bash step {ms:.1f} ms)")
    mean = sum(r for _, r, _ in out) / len(out)
    print(f"mean reward {mean:.2f} over {len(out)} trajectories")
    await backend.stop()
    return 0 if mean == 1.0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
