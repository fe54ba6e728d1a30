"""Start-up as a user feels it: ``gitapply diff`` of a small app beside ``kubectl diff`` of the same files.

Starts its own control plane (tests/harness), applies ``examples/repo/shop`` (6 objects; the HPA as
``autoscaling/v2beta2``, which a v1.20 server serves in place of ``v2``) with gitapply, waits
for the controllers to settle, then times, alternating the two tools run by run so that a busy moment of the
machine hits both alike: ``gitapply diff examples/repo/shop`` (``python -m gitapply``, start-up included) and
``kubectl diff -f examples/repo/shop`` (the default ``kubectl`` on PATH, 1.32 on these machines), both against
the same server with nothing to change. Then ``gitapply --version`` and ``gitapply --help``, with a bare
``python -c pass`` as the floor every Python command pays. Medians (and the spread) of ``BENCH_RUNS`` runs.
Prints figures; passes or fails nothing. Run: ``.venv/bin/python benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.controlplane import ControlPlane  # noqa: E402

APP = ROOT / "examples" / "repo" / "shop"
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def timed(argv: list[str], ok: set[int]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds


def line(label: str, samples: list[float]) -> str:
    return (f"  {label:<36} median {statistics.median(samples):6.3f} s   "
            f"(min {min(samples):.3f}, max {max(samples):.3f}, {len(samples)} runs)")


def alternate(commands: dict[str, tuple[list[str], set[int]]]) -> dict[str, list[float]]:
    """Each command once as a warm-up (kubectl fills its discovery cache), then ``RUNS`` rounds of all."""
    for argv, ok in commands.values():
        timed(argv, ok)
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(RUNS):
        for label, (argv, ok) in commands.items():
            samples[label].append(timed(argv, ok))
    return samples


def settle(plane: ControlPlane, timeout: float = 60.0) -> None:
    """Until the Deployment controller has observed the apply, so no write races the diffs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        web = plane.request("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
        if (web.get("status") or {}).get("observedGeneration") == web["metadata"]["generation"]:
            break
        time.sleep(0.5)
    time.sleep(3)


def write_app(folder: Path) -> Path:
    """The example app, its HPA in the version the v1.20 test server serves."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in APP.glob("*.yaml"):
        text = source.read_text().replace("autoscaling/v2\n", "autoscaling/v2beta2\n")
        (folder / source.name).write_text(text)
    return folder


def main() -> None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise SystemExit("kubectl not on PATH")
    gitapply = [sys.executable, "-m", "gitapply"]
    # an installed package has its bytecode compiled; a checkout run with PYTHONDONTWRITEBYTECODE would
    # compile every changed module on every run (15 ms for cli.py alone) and time that instead
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "gitapply")], check=True,
                   stdout=subprocess.DEVNULL)
    with ControlPlane() as plane, tempfile.TemporaryDirectory() as scratch:
        app = write_app(Path(scratch) / "shop")
        config = ["--kubeconfig", plane.kubeconfig]
        timed([*gitapply, "apply", str(app), *config], {0})
        settle(plane)
        version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True).stdout
        print(f"diff of {APP.relative_to(ROOT)} (6 objects, unchanged); {version.splitlines()[0]}")
        samples = alternate({
            "gitapply diff": ([*gitapply, "diff", str(app), *config], {0}),
            "kubectl diff -f": ([kubectl, "diff", "-f", str(app), *config], {0}),
        })
        for label, values in samples.items():
            print(line(label, values))
        ratio = statistics.median(samples["gitapply diff"]) / statistics.median(samples["kubectl diff -f"])
        print(f"  gitapply / kubectl: {ratio:.2f}")
    print("no cluster")
    samples = alternate({
        "gitapply --version": ([*gitapply, "--version"], {0}),
        "gitapply --help": ([*gitapply, "--help"], {0}),
        "python -c pass (the floor)": ([sys.executable, "-c", "pass"], {0}),
    })
    for label, values in samples.items():
        print(line(label, values))


if __name__ == "__main__":
    main()
