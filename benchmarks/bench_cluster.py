"""Reading live state: 2,000 objects of 10 kinds across 20 namespaces, gitapply beside ``kubectl get``.

Starts its own control plane (tests/harness), creates the fleet with gitapply (timed too), then reads it
back: gitapply's LIST per kind against ``kubectl get <kinds> -A -o json`` with the newest kubectl at hand.
Prints figures; passes or fails nothing. Run: ``.venv/bin/python benchmarks/bench_cluster.py``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.data.fleet import fleet, kinds, namespaces  # noqa: E402
from gitapply.cluster.kube import KubeCluster  # noqa: E402
from gitapply.cluster.snapshot import snapshot  # noqa: E402
from benchmarks.data.seed import apply_objects  # noqa: E402
from tests.harness.controlplane import ControlPlane  # noqa: E402

TOTAL = int(os.environ.get("BENCH_OBJECTS", "2000"))


def newest_kubectl() -> str:
    """kubectl.1.NN beside the default kubectl (the machine image ships several); the highest NN."""
    default = shutil.which("kubectl")
    if not default:
        return ""
    folder = Path(os.path.realpath(default)).parent
    versions = sorted(folder.glob("kubectl.1.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    return str(versions[-1]) if versions else default


def main() -> None:
    with ControlPlane() as plane:
        cluster = KubeCluster(kubeconfig=plane.kubeconfig)
        apply_objects(cluster, namespaces(), app="bench-namespaces")
        objects = fleet(TOTAL)
        start = time.perf_counter()
        cluster.requests = 0
        apply_objects(cluster, objects, app="bench-fleet")
        created = time.perf_counter() - start
        print(f"gitapply apply of {TOTAL} new objects: {created:.2f} s, {cluster.requests} requests")

        cluster = KubeCluster(kubeconfig=plane.kubeconfig)
        start = time.perf_counter()
        live = snapshot(cluster, kinds(), label_selector="bench=fleet")
        elapsed = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"gitapply read of {len(live)} live objects: {elapsed:.2f} s, {cluster.requests} requests "
              f"(discovery and pages included), process peak RSS {rss:.0f} MiB")

        kubectl = newest_kubectl()
        if kubectl:
            names = ",".join(f"{kind.lower()}s.{api.split('/')[0]}" if "/" in api else f"{kind.lower()}s"
                             for api, kind in kinds())
            names = names.replace("policys", "policies")
            start = time.perf_counter()
            done = subprocess.run([kubectl, "--kubeconfig", plane.kubeconfig, "get", names, "-A", "-l",
                                   "bench=fleet", "-o", "json"], capture_output=True, text=True)
            kubectl_time = time.perf_counter() - start
            version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout
            status = "ok" if done.returncode == 0 else f"failed: {done.stderr.strip()[:200]}"
            print(f"kubectl get of the same kinds ({version.splitlines()[0] if version else kubectl}): "
                  f"{kubectl_time:.2f} s ({status})")


if __name__ == "__main__":
    main()
