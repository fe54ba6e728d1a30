"""gitapply diff/apply beside kubectl diff/apply: 2,000 objects of 10 kinds in 20 namespaces.

Starts its own control plane (tests/harness). Figures, side by side in one run:
- apply of 2,000 new objects: ``gitapply apply DIR`` and ``kubectl apply -f DIR`` (each on its own copy of
  the fleet, in its own namespaces);
- diff with nothing to change, and with 10% of the objects changed: ``gitapply diff`` and ``kubectl diff``,
  and the drift check (``gitapply drift``) on the same objects.
gitapply runs as a user runs it (``python -m gitapply``, start-up included); a second, in-process pass counts
its requests. kubectl is the newest one at hand (the machine image ships several). Prints; passes or fails
nothing. Run: ``.venv/bin/python benchmarks/bench_diff_apply.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_cluster import newest_kubectl  # noqa: E402
from benchmarks.data.fleet import fleet, namespaces  # noqa: E402
from gitapply.cluster.kube import KubeCluster  # noqa: E402
from gitapply.model import Action  # noqa: E402
from benchmarks.data.seed import apply_objects  # noqa: E402
from gitapply.ops.apply import confirm_patches  # noqa: E402
from gitapply.session import AppSession, AppSpec, Request  # noqa: E402
from tests.harness.controlplane import ControlPlane  # noqa: E402

TOTAL = int(os.environ.get("BENCH_OBJECTS", "2000"))


def write_fleet(folder: Path, prefix: str, changed_every: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, obj in enumerate(fleet(TOTAL, prefix=prefix)):
        if changed_every and index % changed_every == 0:
            obj["metadata"]["labels"]["revision"] = "2"
        (folder / f"{index:05d}.json").write_text(json.dumps(obj))


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - start, done


def report(label: str, seconds: float, done: subprocess.CompletedProcess[str], ok: set[int]) -> None:
    status = "ok" if done.returncode in ok else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    print(f"  {label:<34} {seconds:7.2f} s  ({status})")


def settle(cluster: KubeCluster, timeout: float = 120.0) -> None:
    """Wait until the controllers have caught up with the applies (every Deployment observed), so that the
    diffs are timed against a quiet API server, not one still busy with 600 new workloads."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = [d for d in cluster.list("apps/v1", "Deployment")
                   if (d.get("status") or {}).get("observedGeneration") != d["metadata"].get("generation")]
        if not pending:
            break
        time.sleep(1)
    time.sleep(5)


def main() -> None:
    kubectl = newest_kubectl()
    gitapply = [sys.executable, "-m", "gitapply"]
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        config = ["--kubeconfig", plane.kubeconfig]
        cluster = KubeCluster(kubeconfig=plane.kubeconfig)
        apply_objects(cluster, namespaces(prefix="git") + namespaces(prefix="kube") + namespaces(prefix="fast"),
                      app="bench-namespaces")
        write_fleet(work / "git", "git")
        write_fleet(work / "kube", "kube")
        write_fleet(work / "fast", "fast")
        version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout
        print(f"{TOTAL} objects, 10 kinds, 20 namespaces; kubectl: {version.splitlines()[0] if version else kubectl}")

        print("apply of new objects")
        seconds, done = timed([*gitapply, "apply", str(work / "git"), "--app", "bench", *config])
        report("gitapply apply", seconds, done, {0})
        seconds, done = timed([kubectl, "apply", "-f", str(work / "kube"), *config])
        report("kubectl apply -f", seconds, done, {0})
        seconds, done = timed([*gitapply, "apply", str(work / "fast"), "--app", "fast", "--no-preflight", *config])
        report("gitapply apply --no-preflight", seconds, done, {0})

        settle(cluster)
        print("diff, nothing to change")
        seconds, done = timed([*gitapply, "diff", str(work / "git"), "--app", "bench", *config])
        report("gitapply diff", seconds, done, {0})
        seconds, done = timed([kubectl, "diff", "-f", str(work / "kube"), *config])
        report("kubectl diff -f", seconds, done, {0})

        seconds, done = timed([*gitapply, "drift", str(work / "git"), "--app", "bench", *config])
        report("gitapply drift", seconds, done, {0})

        print("diff, 10% changed")
        write_fleet(work / "git", "git", changed_every=10)
        write_fleet(work / "kube", "kube", changed_every=10)
        seconds, done = timed([*gitapply, "diff", str(work / "git"), "--app", "bench", *config])
        report("gitapply diff", seconds, done, {1})
        seconds, done = timed([kubectl, "diff", "-f", str(work / "kube"), *config])
        report("kubectl diff -f", seconds, done, {1})

        seconds, done = timed([*gitapply, "drift", str(work / "git"), "--app", "bench", *config])
        report("gitapply drift", seconds, done, {1})

        counted = KubeCluster(kubeconfig=plane.kubeconfig)
        session = AppSession(counted, AppSpec(Request(path=str(work / "git"), app="bench")))
        start = time.perf_counter()
        prepared = session.read()
        planned_at, read_requests = time.perf_counter(), counted.requests
        plan = confirm_patches(counted, prepared.plan, prepared.nodes)
        print(f"in process: diff of {len(plan.changes)} objects made {read_requests} requests "
              f"in {planned_at - start:.2f} s; confirming its {prepared.plan.count(Action.PATCH)} predicted "
              f"patches by dry-run: {counted.requests - read_requests} requests, "
              f"{time.perf_counter() - planned_at:.2f} s ({plan.count(Action.PATCH)} confirmed)")
        tracemalloc.start()
        start = time.perf_counter()
        drift = session.drift()
        seconds, (_, peak) = time.perf_counter() - start, tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"in process: drift with provenance of {len(drift.objects)} objects in {seconds:.2f} s, "
              f"peak {peak / 2**20:.0f} MiB traced")


if __name__ == "__main__":
    main()
