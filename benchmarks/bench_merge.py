"""Merge engine figures: median time of three_way_patch and apply_patch on a realistic Deployment.

Run: ``make bench`` (or ``python benchmarks/bench_merge.py``). Prints figures; it passes or fails nothing.
The yardstick is Kubernetes' own Go implementation on the same object and machine class: about 400 µs for
CreateThreeWayMergePatch and 300 µs for StrategicMergePatch (../shared/FACTS.md).
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.data.deployment import last_applied, live, modified  # noqa: E402
from gitapply import bundled  # noqa: E402
from gitapply.merge import apply_patch, three_way_patch  # noqa: E402


def median_us(func, rounds: int = 30, inner: int = 200) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            func()
        samples.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(samples)


def main() -> None:
    node = bundled.schema().for_kind("apps/v1", "Deployment")
    original, desired, current = last_applied(), modified(), live()
    patch = three_way_patch(original, desired, current, node)
    print(f"live object: {len(json.dumps(current, separators=(',', ':')))} bytes of JSON; "
          f"patch: {len(json.dumps(patch))} bytes")
    gc.disable()
    three_way = median_us(lambda: three_way_patch(original, desired, current, node))
    applied = median_us(lambda: apply_patch(current, patch, node))
    gc.enable()
    print(f"three_way_patch  median {three_way:7.1f} µs/object   (Go apimachinery ≈ 400 µs)")
    print(f"apply_patch      median {applied:7.1f} µs/object   (Go apimachinery ≈ 300 µs)")

    objects = 10_000
    start = time.perf_counter()
    for _ in range(objects):
        apply_patch(current, three_way_patch(original, desired, current, node), node)
    elapsed = time.perf_counter() - start
    print(f"{objects} objects in a row (patch + apply): {elapsed:.2f} s, {elapsed / objects * 1e6:.0f} µs/object")

    tracemalloc.start()
    for _ in range(1_000):
        apply_patch(current, three_way_patch(original, desired, current, node), node)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory allocated by the engine: {peak / 1024:.0f} KiB (results are not retained); "
          f"process peak RSS {rss:.0f} MiB")

if __name__ == "__main__":
    main()
