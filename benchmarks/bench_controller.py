"""The reconcile controller at scale: N apps of M objects from one git repository, its requests counted by a
proxy (the API server's own counters include the controller-manager's work, FACTS).

Starts its own control plane (tests/harness) and, in one local git repository, N apps (``apps/app-NNN``: M-1
ConfigMaps and one Deployment with ``replicas: 0``, each app in its own namespace, made first; its inventory
there too), an apps file (``prune: true``, ``--interval``), and runs ``python -m gitapply reconcile --apps``
as a subprocess through a ``CountingProxy``. The controller's first passes create the objects (nothing is
seeded), so the first figure is also the time to first convergence from an empty cluster. Figures:

1. the time until every app's first pass is ok (``gitapply_passes_total{result="ok"}`` >= 1 for all, read from
   ``/metrics``), controller start-up included, and the requests and writes that took;
2. idle load over ``--idle-seconds`` from half an interval after that: requests per second (watches apart),
   per pass, watch opens, by verb;
3. out-of-band change -> revert, 5 times, each after a random pause: a Deployment's image patched directly
   (not through the proxy), polled directly until it is back; each and the median;
4. the controller's peak memory (VmHWM), and per object watched (N x M, the interpreter included).

Prints; passes or fails nothing. ``--source-tree DIR`` runs the controller from another copy of gitapply (an
export of an earlier commit) for before/after figures from one benchmark.
Run: ``.venv/bin/python benchmarks/bench_controller.py --apps 200 --objects 11 --interval 60 --idle-seconds 60``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.controlplane import ControlPlane  # noqa: E402
from tests.harness.countproxy import Counts, CountingProxy  # noqa: E402

IMAGE = "nginx:1.19"
REVERT_TRIALS = 5
PROGRESS_SECONDS = 15.0
_SAMPLE = re.compile(r"^gitapply_passes_total\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Options:
    apps: int = 200
    objects: int = 11
    interval: float = 60.0
    idle_seconds: float = 60.0
    converge_timeout: float = 1800.0
    keep: bool = False
    source_tree: Path = ROOT


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=Options.apps, help="apps (N)")
    parser.add_argument("--objects", type=int, default=Options.objects, help="objects per app (M, at least 2)")
    parser.add_argument("--interval", type=float, default=Options.interval, help="seconds between passes")
    parser.add_argument("--idle-seconds", type=float, default=Options.idle_seconds, help="the idle window")
    parser.add_argument("--converge-timeout", type=float, default=Options.converge_timeout,
                        help="give up if the first passes are not all ok after this many seconds")
    parser.add_argument("--keep", action="store_true", help="leave the control plane up (until Ctrl-C)")
    parser.add_argument("--source-tree", type=Path, default=ROOT, help="run the controller from this gitapply "
                                                                       "tree (default: this one)")
    args = parser.parse_args(argv)
    if args.objects < 2:
        parser.error("--objects must be at least 2 (a Deployment and a ConfigMap)")
    return Options(args.apps, args.objects, args.interval, args.idle_seconds, args.converge_timeout, args.keep,
                   args.source_tree.resolve())


def app_names(count: int) -> list[str]:
    return [f"app-{index:03d}" for index in range(count)]


def app_objects(namespace: str, count: int) -> list[dict[str, Any]]:
    """``count - 1`` ConfigMaps and a Deployment with no replicas (the API is measured, not pods)."""
    labels = {"app": "web"}
    configmaps: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"config-{index:02d}", "namespace": namespace},
         "data": {"index": str(index), "level": "info"}} for index in range(count - 1)]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
                  "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": {
                      "metadata": {"labels": labels},
                      "spec": {"containers": [{"name": "app", "image": IMAGE, "ports": [{"containerPort": 80}]}]}}}}
    return [*configmaps, deployment]


def make_repository(folder: Path, names: list[str], objects: int) -> Path:
    """One git repository, one folder per app, one committed manifest per object."""
    for name in names:
        app = folder / "apps" / name
        app.mkdir(parents=True)
        for index, obj in enumerate(app_objects(f"bench-{name}", objects)):
            (app / f"{index:02d}.yaml").write_text(json.dumps(obj, indent=1))
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for argv in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-q", "-m", "bench apps"]):
        subprocess.run(["git", *argv], cwd=folder, check=True, capture_output=True)
    return folder


def write_apps_file(path: Path, repository: Path, names: list[str], interval: float) -> Path:
    """The apps file (JSON, which is YAML): each app's folder, namespace and inventory namespace its own."""
    apps = [{"name": name, "repository": str(repository), "path": f"apps/{name}", "namespace": f"bench-{name}",
             "inventoryNamespace": f"bench-{name}", "interval": interval, "prune": True} for name in names]
    path.write_text(json.dumps({"apps": apps}, indent=1))
    return path


def create_namespaces(plane: ControlPlane, names: list[str]) -> None:
    for name in names:
        plane.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": f"bench-{name}"}})


class Controller:
    """``gitapply reconcile --apps`` as a subprocess, its log in a file, its metrics on a port of its own."""

    def __init__(self, apps_file: Path, kubeconfig: str, log: Path, source_tree: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = log
        # -m gitapply finds the package in the working directory first, before the editable install's finder
        env = {**os.environ, "PYTHONPATH": str(source_tree)}
        argv = [sys.executable, "-m", "gitapply", "reconcile", "--apps", str(apps_file), "--kubeconfig", kubeconfig,
                "--metrics-addr", f"127.0.0.1:{self.port}"]
        self.started = time.monotonic()
        with log.open("wb") as sink:
            self.process = subprocess.Popen(argv, cwd=source_tree, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                            stderr=subprocess.STDOUT)

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"the controller exited with {self.process.returncode}; log {self.log}:\n"
                             f"{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def passes(self) -> dict[tuple[str, str], float]:
        """``gitapply_passes_total`` by (app, result); empty while the metrics server is not up yet."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as answer:
                text = answer.read().decode()
        except OSError:
            return {}
        found = {}
        for labels, value in _SAMPLE.findall(text):
            named = dict(_LABEL.findall(labels))
            found[(named.get("app", ""), named.get("result", ""))] = float(value)
        return found

    def memory(self) -> dict[str, int]:
        """VmHWM and VmRSS in KiB, from /proc."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return {key: int(value.split()[0]) for key, value in re.findall(r"^(VmHWM|VmRSS):\s+(.+)$", status, re.M)}

    def stop(self) -> tuple[int | None, float]:
        """SIGTERM, then wait (SIGKILL after two minutes); the exit code and the seconds it took."""
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        return code, time.monotonic() - began


def wait_converged(controller: Controller, proxy: CountingProxy, names: list[str], timeout: float) -> float:
    """Seconds from the controller's start until every app had an ok pass; progress every PROGRESS_SECONDS."""
    report_at = time.monotonic() + PROGRESS_SECONDS
    while True:
        controller.check_running()
        passes = controller.passes()
        done = sum(1 for name in names if passes.get((name, "ok"), 0) >= 1)
        failed = sum(passes.get((name, "failed"), 0) for name in names)
        elapsed = time.monotonic() - controller.started
        if done == len(names):
            return elapsed
        if elapsed > timeout:
            raise SystemExit(f"only {done}/{len(names)} apps had an ok pass after {elapsed:.0f} s; log "
                             f"{controller.log}:\n{controller.tail()}")
        if time.monotonic() >= report_at:
            counts = proxy.snapshot()
            print(f"  {elapsed:6.0f} s: {done}/{len(names)} apps ok, {failed:.0f} failed passes, "
                  f"{counts.requests} requests, {counts.writes} writes", flush=True)
            report_at += PROGRESS_SECONDS
        time.sleep(1.0)


def deployment_image(plane: ControlPlane, name: str) -> str:
    live = plane.request("GET", f"/apis/apps/v1/namespaces/bench-{name}/deployments/web")
    return str(live["spec"]["template"]["spec"]["containers"][0]["image"])


def revert_seconds(plane: ControlPlane, controller: Controller, name: str, trial: int, timeout: float) -> float:
    """Patch the app's Deployment image directly, then poll directly until the controller put it back."""
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"bench/drift:{trial}"}]}}}}
    plane.request("PATCH", f"/apis/apps/v1/namespaces/bench-{name}/deployments/web", patch,
                  content_type="application/strategic-merge-patch+json")
    changed = time.monotonic()
    while deployment_image(plane, name) != IMAGE:
        controller.check_running()
        if time.monotonic() - changed > timeout:
            raise SystemExit(f"{name}: the image was not reverted within {timeout:.0f} s; log {controller.log}:\n"
                             f"{controller.tail()}")
        time.sleep(0.25)
    return time.monotonic() - changed


def revert_trials(plane: ControlPlane, controller: Controller, names: list[str], interval: float) -> list[float]:
    """REVERT_TRIALS changes, on apps spread over the list, each after a pause drawn (seeded) from one interval.

    A polling controller's passes come together; trials one after the other would each change an object just
    after the pass that reverted the last one, and measure the worst case every time."""
    pauses = random.Random(REVERT_TRIALS).uniform
    timeout = 3 * interval + 120
    seconds = []
    for trial in range(REVERT_TRIALS):
        time.sleep(pauses(0, interval))
        name = names[trial * len(names) // REVERT_TRIALS]
        seconds.append(revert_seconds(plane, controller, name, trial + 1, timeout))
    return seconds


def idle_load(proxy: CountingProxy, controller: Controller, names: list[str], options: Options) -> None:
    """Requests while nothing changes, over a window that starts half an interval after the first passes.

    The apps start together, so a polling controller's passes come in bursts, one an interval after the
    last: a window opening as the first burst ends would close as the next begins and miss most of it. Half
    an interval later, a window of one interval holds one whole burst. The requests per pass (passes counted
    from /metrics in the same window) do not depend on where the window falls."""
    time.sleep(options.interval / 2)
    before, passes_before = proxy.snapshot(), sum(controller.passes().values())
    time.sleep(options.idle_seconds)
    idle, passes = proxy.requests_since(before), sum(controller.passes().values()) - passes_before
    rate = idle.requests / options.idle_seconds
    per_pass = f"{idle.requests / passes:.1f}" if passes else "-"
    print(f"2. idle {options.idle_seconds:.0f} s: {rate:.1f} requests/s ({idle.requests} requests in {passes:.0f} "
          f"passes: {per_pass} per pass), {idle.watches} watch opens, {idle.open_watches} watches open, "
          f"{idle.writes} writes; by verb: {by_verb(idle) or 'none'}", flush=True)


def by_verb(counts: Counts) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.by_verb.items(), key=lambda kv: -kv[1]))


def measure(plane: ControlPlane, proxy: CountingProxy, controller: Controller, names: list[str],
            options: Options) -> None:
    """The four figures, printed as they come."""
    total = options.apps * options.objects
    converged = wait_converged(controller, proxy, names, options.converge_timeout)
    counts = proxy.snapshot()
    print(f"1. first pass ok for all {options.apps} apps ({total} objects created): {converged:.1f} s after the "
          f"controller started; {counts.requests} requests, {counts.writes} writes, {counts.watches} watches "
          f"({by_verb(counts)})", flush=True)

    idle_load(proxy, controller, names, options)

    seconds = revert_trials(plane, controller, names, options.interval)
    print(f"3. out-of-band image change -> revert: {', '.join(f'{s:.1f}' for s in seconds)} s; "
          f"median {statistics.median(seconds):.1f} s", flush=True)

    memory = controller.memory()
    peak = memory.get("VmHWM", 0)
    print(f"4. controller peak memory (VmHWM) {peak / 1024:.0f} MiB, now {memory.get('VmRSS', 0) / 1024:.0f} MiB; "
          f"{total} objects: {peak / total:.1f} KiB per object (interpreter included)", flush=True)


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)
    names = app_names(options.apps)
    work = Path(tempfile.mkdtemp(prefix="bench-controller-"))
    with ControlPlane() as plane, CountingProxy(plane) as proxy:
        print(f"control plane ready in {plane.startup_seconds:.1f} s; {options.apps} apps x {options.objects} "
              f"objects, interval {options.interval:g} s, controller from {options.source_tree}", flush=True)
        create_namespaces(plane, names)
        repository = make_repository(work / "repo", names, options.objects)
        apps_file = write_apps_file(work / "apps.yaml", repository, names, options.interval)
        controller = Controller(apps_file, proxy.kubeconfig(work / "kubeconfig"), work / "controller.log",
                                options.source_tree)
        try:
            measure(plane, proxy, controller, names, options)
        finally:
            code, took = controller.stop()
            print(f"controller stopped (SIGTERM) in {took:.1f} s, exit code {code}", flush=True)
        if options.keep:
            print(f"kept: kubeconfig {plane.kubeconfig}, work folder {work}; Ctrl-C to stop", flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
