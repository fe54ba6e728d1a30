"""Where the time of an apply of new objects goes: the client's CPU and the control plane's, side by side.

Starts its own control plane (tests/harness). For ``BENCH_OBJECTS`` new objects (default 500; the fleet of
``bench_diff_apply``, 10 kinds in 20 namespaces, each run on its own copy in its own namespaces), two rounds of:
``gitapply apply`` (a dry-run of every write first, so that a refusal leaves nothing half-applied),
``gitapply apply --no-preflight`` and ``kubectl apply -f`` (the newest at hand). For each run: wall time; CPU
seconds of the client and of kube-apiserver, etcd and kube-controller-manager while it ran; and how much
of the machine's cores that is. When client and control plane together keep the cores busy, the wall time
cannot fall below their CPU divided by the cores, however the requests are scheduled: that is the figure
to hold a speed-up goal against. Prints; passes or fails nothing.
Run: ``.venv/bin/python benchmarks/bench_apply_cpu.py``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_cluster import newest_kubectl  # noqa: E402
from benchmarks.data.fleet import fleet, namespaces  # noqa: E402
from gitapply.cluster.kube import KubeCluster  # noqa: E402
from benchmarks.data.seed import apply_objects  # noqa: E402
from tests.harness.controlplane import ControlPlane  # noqa: E402

TOTAL = int(os.environ.get("BENCH_OBJECTS", "500"))
CORES = os.cpu_count() or 1
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_fleet(cluster: KubeCluster, folder: Path, prefix: str) -> Path:
    apply_objects(cluster, namespaces(prefix=prefix), app=f"{prefix}-namespaces")
    folder.mkdir(parents=True)
    for index, obj in enumerate(fleet(TOTAL, prefix=prefix)):
        (folder / f"{index:05d}.json").write_text(json.dumps(obj))
    return folder


def measure(label: str, argv: list[str], pids: dict[str, int]) -> None:
    time.sleep(3)  # the controllers finish with the last run's workloads first
    server_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    client_before, start = children_cpu(), time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall, client = time.perf_counter() - start, children_cpu() - client_before
    server = {name: cpu_seconds(pid) - server_before[name] for name, pid in pids.items()}
    total = client + sum(server.values())
    status = "" if done.returncode == 0 else f"  (exit {done.returncode}: {done.stderr.strip()[-200:]})"
    print(f"  {label:<30} {wall:5.2f} s   client {client:4.2f}  apiserver {server['kube-apiserver']:4.2f}  "
          f"etcd {server['etcd']:4.2f}  controllers {server.get('kube-controller-manager', 0.0):4.2f}  "
          f"= {total:4.2f} CPU s, {total / CORES / wall:4.0%} of {CORES} cores, floor {total / CORES:4.2f} s"
          f"{status}")


def main() -> None:
    kubectl = newest_kubectl()
    gitapply = [sys.executable, "-m", "gitapply"]
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as scratch:
        cluster = KubeCluster(kubeconfig=plane.kubeconfig)
        config = ["--kubeconfig", plane.kubeconfig]
        pids = plane.component_pids()
        print(f"apply of {TOTAL} new objects; CPU seconds while each ran (kubectl: {kubectl})")
        for round_ in range(2):
            for label, prefix, extra in (("gitapply apply", "g", []),
                                         ("gitapply apply --no-preflight", "n", ["--no-preflight"])):
                folder = write_fleet(cluster, Path(scratch) / f"{prefix}{round_}", f"{prefix}{round_}")
                measure(label, [*gitapply, "apply", str(folder), "--app", f"{prefix}{round_}", *config, *extra],
                        pids)
            folder = write_fleet(cluster, Path(scratch) / f"k{round_}", f"k{round_}")
            measure("kubectl apply -f", [kubectl, "apply", "-f", str(folder), *config], pids)


if __name__ == "__main__":
    main()
