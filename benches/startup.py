#!/usr/bin/env python3
"""Whole-process start-up times: runs each command N times (after one warm-up run) and prints
min / median / max in milliseconds, and each median as a ratio of the first command's (the
baseline measured in the same run).

Usage: startup.py RUNS 'label=command' ['label=command' ...]   (commands run through sh -c)
"""
import statistics
import subprocess
import sys
import time


def times(command, runs):
    subprocess.run(command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out.append((time.perf_counter() - t0) * 1000)
        if done.returncode != 0:
            sys.exit(f"{command!r} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return out


def main():
    runs = int(sys.argv[1])
    base = None
    for spec in sys.argv[2:]:
        label, command = spec.split("=", 1)
        t = times(command, runs)
        med = statistics.median(t)
        base = base or med
        print(f"  {label:<42} min {min(t):6.1f}  median {med:6.1f}  max {max(t):6.1f} ms   {med / base:5.2f}x")


if __name__ == "__main__":
    main()
