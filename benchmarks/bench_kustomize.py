"""What rendering a Kustomize overlay costs, beside the rest of a ``diff``: a 200-object overlay.

The base holds 200 objects (ConfigMaps, Services, Deployments in turn); the overlay sets a namespace, a name
prefix and labels, patches every Deployment (strategic merge) and changes the image tag. Figures, side by
side in one run:

- the bare ``kubectl kustomize`` (or ``kustomize build``) of the overlay, as a subprocess;
- gitapply's render (``source.kustomize.render``: the run and the parse), and the same directory rendered
  through the wrapper that asks for origin annotations (done only when the objects have problems);
- ``prepare`` of the overlay (what ``diff`` does before printing: read and render, validate, read live
  state, plan) after the overlay was applied, so nothing changes, and the rest of it (``prepare`` minus the
  render);
- ``gitapply diff`` of the overlay and of the same objects piped in (``-``), as a user runs it.

By default against the embedded local cluster (a SQLite file; no Kubernetes needed); ``--real`` starts the
v1.20.2 control plane of the tests instead (``make controlplane`` first). Prints; passes or fails nothing.
Run: ``.venv/bin/python benchmarks/bench_kustomize.py [--real]``.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.data.fleet import fleet  # noqa: E402
from gitapply.source.kustomize import KustomizeOptions, command_line, origin_wrapper, render  # noqa: E402

OBJECTS = int(os.environ.get("BENCH_OBJECTS", "200"))
NAMESPACE = "bench-kustomize"
PATCH = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: not-important
spec:
  template:
    spec:
      containers:
        - name: app
          resources: {limits: {cpu: 500m}}
"""


def write_overlay(root: Path) -> Path:
    """A base of OBJECTS objects and an overlay of it; returns the overlay's directory."""
    base, overlay = root / "base", root / "overlays" / "prod"
    base.mkdir(parents=True)
    overlay.mkdir(parents=True)
    names = []
    kinds = ("ConfigMap", "Service", "Deployment")
    objects = [obj for obj in fleet(OBJECTS * 4, prefix="b") if obj["kind"] in kinds][:OBJECTS]
    for index, obj in enumerate(objects):
        obj["metadata"].pop("namespace", None)
        names.append(f"{index:04d}-{obj['kind'].lower()}.yaml")
        (base / names[-1]).write_text(yaml.safe_dump(obj))
    (base / "kustomization.yaml").write_text(yaml.safe_dump({"resources": names}))
    (overlay / "limits.yaml").write_text(PATCH)
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "namespace": NAMESPACE, "namePrefix": "prod-", "resources": ["../../base"],
        "labels": [{"pairs": {"env": "prod"}}],
        "patches": [{"path": "limits.yaml", "target": {"kind": "Deployment"}}],
        "images": [{"name": "nginx", "newTag": "1.21"}]}))
    return overlay


def median(action: Callable[[], Any], runs: int = 5) -> tuple[float, float]:
    """Median wall time and median CPU time (this process and its children: Kustomize runs as a child) of
    ``runs`` calls. The machine is shared, so CPU time is the steadier figure."""
    walls, cpus = [], []
    for _ in range(runs):
        before = _cpu()
        start = time.perf_counter()
        action()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - before)
    return statistics.median(walls), statistics.median(cpus)


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def cluster(real: bool, scratch: Path) -> Iterator[tuple[Any, list[str]]]:
    """The cluster to diff against and the gitapply CLI arguments that name it."""
    if not real:
        from gitapply.cluster.local import LocalCluster

        database = scratch / "local.db"
        yield LocalCluster(database), ["--local", str(database)]
        return
    from gitapply.cluster.kube import KubeCluster
    from tests.harness.controlplane import ControlPlane

    with ControlPlane() as plane:
        yield KubeCluster(kubeconfig=plane.kubeconfig), ["--kubeconfig", plane.kubeconfig]


def cli(args: list[str], target: list[str], stdin: str = "") -> float:
    """Wall time of one ``python -m gitapply`` run, start-up included; exit 0 expected (nothing to change)."""
    argv = [sys.executable, "-m", "gitapply", *(target if target[0] == "--local" else []), *args,
            *(target if target[0] != "--local" else [])]
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-500:]
    return seconds


def main() -> None:
    from benchmarks.data.seed import apply_objects
    from gitapply.ops.prepare import Request, prepare
    from gitapply.ops.sync import plan_sync, write_sync

    real = "--real" in sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="bench-kustomize-") as tmp, cluster(real, Path(tmp)) as (live, target):
        overlay = write_overlay(Path(tmp))
        argv = command_line(KustomizeOptions())
        rendered = subprocess.run([*argv, str(overlay)], check=True, capture_output=True, text=True).stdout
        print(f"{OBJECTS}-object overlay, rendered by `{' '.join(argv)}`; cluster: "
              f"{'v1.20.2 control plane' if real else 'embedded local (SQLite)'}")
        apply_objects(live, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}])
        request = Request(path=str(overlay), app="bench")
        failures = write_sync(live, plan_sync(live, request))
        assert not failures, failures

        bare = median(lambda: subprocess.run([*argv, str(overlay)], check=True, capture_output=True))
        ours = median(lambda: render(overlay, str(overlay), KustomizeOptions()))
        wrapper = origin_wrapper(overlay, Path(tmp))
        wrapped = median(lambda: subprocess.run([*argv, str(wrapper)], check=True, capture_output=True), runs=3)
        whole = median(lambda: prepare(live, request), runs=3)
        plan = prepare(live, request).plan
        assert len(plan.changes) == OBJECTS and not plan.has_changes, "the overlay was applied: nothing to do"
        print("                                            wall     CPU (with children)")
        print(f"  {' '.join(argv)} alone (subprocess):      {bare[0]:6.2f} s  {bare[1]:6.2f} s")
        print(f"  gitapply's render (run, parse):           {ours[0]:6.2f} s  {ours[1]:6.2f} s")
        print(f"  through the origin wrapper (on problems): {wrapped[0]:6.2f} s  {wrapped[1]:6.2f} s")
        print(f"  prepare = what diff does before output:   {whole[0]:6.2f} s  {whole[1]:6.2f} s")
        print(f"    of which the render {ours[1] / whole[1]:.0%} of the CPU time; the rest (validate, read live, "
              f"plan) {whole[1] - ours[1]:.2f} s CPU")
        from_dir = cli(["diff", str(overlay), "--app", "bench"], target)
        from_stdin = cli(["diff", "-", "--app", "bench"], target, stdin=rendered)
        print(f"  gitapply diff OVERLAY (CLI, start-up included): {from_dir:6.2f} s")
        print(f"  kustomize … | gitapply diff - (same objects):    {from_stdin:6.2f} s  "
              f"(difference {from_dir - from_stdin:+.2f} s)")
        print(f"  load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
