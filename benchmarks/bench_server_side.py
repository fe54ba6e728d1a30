"""Server-side apply beside kubectl's, side by side in one run (issue 18's yardsticks):

- ``gitapply diff --server-side`` of 2,000 unchanged objects against ``kubectl diff --server-side`` (one
  dry-run per object);
- ``gitapply apply --server-side`` of 500 new objects against ``kubectl apply --server-side`` (and gitapply
  without its preflight dry-runs, which check every object before the first write);
- and, so that a regression shows, client-side ``gitapply diff`` of the same 2,000 unchanged objects.

Starts its own control plane (tests/harness); gitapply runs as a user runs it (``python -m gitapply``, start-up
included); kubectl is the newest one at hand. Prints; passes or fails nothing.
Run: ``.venv/bin/python benchmarks/bench_server_side.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_cluster import newest_kubectl  # noqa: E402
from benchmarks.bench_diff_apply import report, settle, timed  # noqa: E402
from benchmarks.data.fleet import fleet, namespaces  # noqa: E402
from benchmarks.data.seed import apply_objects  # noqa: E402
from gitapply.cluster.kube import KubeCluster  # noqa: E402
from tests.harness.controlplane import ControlPlane  # noqa: E402
from tests.integration.test_server_side import with_protocol  # noqa: E402

TOTAL = int(os.environ.get("BENCH_OBJECTS", "2000"))
NEW = int(os.environ.get("BENCH_NEW_OBJECTS", "500"))


def write(folder: Path, objects: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, obj in enumerate(objects):
        # ports with their protocol: kubectl's server-side apply refuses them without it on this server
        (folder / f"{index:05d}.json").write_text(json.dumps(with_protocol(obj)))
    return folder


def main() -> None:
    kubectl = newest_kubectl()
    gitapply = [sys.executable, "-m", "gitapply"]
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as scratch:
        work, config = Path(scratch), ["--kubeconfig", plane.kubeconfig]
        cluster = KubeCluster(kubeconfig=plane.kubeconfig)
        prefixes = ("git", "kube", "gnew", "knew", "fnew", "csa")
        apply_objects(cluster, [ns for prefix in prefixes for ns in namespaces(prefix=prefix)], app="bench-ns")
        version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout
        print(f"kubectl: {version.splitlines()[0] if version else kubectl}")

        print(f"apply --server-side of {NEW} new objects")
        seconds, done = timed([*gitapply, "apply", str(write(work / "gnew", fleet(NEW, prefix="gnew"))),
                               "--app", "gnew", "--server-side", *config])
        report("gitapply apply --server-side", seconds, done, {0})
        seconds, done = timed([kubectl, "apply", "--server-side", "-f",
                               str(write(work / "knew", fleet(NEW, prefix="knew"))), *config])
        report("kubectl apply --server-side", seconds, done, {0})
        seconds, done = timed([*gitapply, "apply", str(write(work / "fnew", fleet(NEW, prefix="fnew"))),
                               "--app", "fnew", "--server-side", "--no-preflight", *config])
        report("gitapply ... --no-preflight", seconds, done, {0})

        git = write(work / "git", fleet(TOTAL, prefix="git"))
        kube = write(work / "kube", fleet(TOTAL, prefix="kube"))
        done = subprocess.run([*gitapply, "apply", str(git), "--app", "bench", "--server-side", *config],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-500:]
        done = subprocess.run([kubectl, "apply", "--server-side", "-f", str(kube), *config], capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr[-500:]
        settle(cluster)
        print(f"diff of {TOTAL} unchanged objects")
        seconds, done = timed([*gitapply, "diff", str(git), "--app", "bench", "--server-side", *config])
        report("gitapply diff --server-side", seconds, done, {0})
        seconds, done = timed([kubectl, "diff", "--server-side", "-f", str(kube), *config])
        report("kubectl diff --server-side", seconds, done, {0})
        client = write(work / "csa", fleet(TOTAL, prefix="csa"))
        subprocess.run([*gitapply, "apply", str(client), "--app", "client", *config], capture_output=True)
        settle(cluster)
        seconds, done = timed([*gitapply, "diff", str(client), "--app", "client", *config])
        report("gitapply diff (client-side)", seconds, done, {0})


if __name__ == "__main__":
    main()
