"""Source figures: reading a 10,000-file repository at a commit, without a checkout.

Run: ``python benchmarks/bench_source.py [FILES]``. Prints figures; it passes or fails nothing. The target is
under 2 s for 10,000 small manifests (a ConfigMap, Service or Deployment each, schema-checked).

The repository is built with ``git fast-import`` (a second commit changes one file, so the read is of an older
commit) in a temporary directory. Figures: the first ``load`` in this process (it includes importing GitPython
and reading the bundled schema), the median of later loads, the stages of one load, peak memory, and — for the
record of the design choice in ``gitapply/source/git.py`` — reading the same blobs one by one through GitPython's
object database instead of one pipelined ``git cat-file --batch``.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitapply.source import load  # noqa: E402

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-{i}
  namespace: team-{team}
  labels: {{app: app-{i}, tier: backend}}
data:
  LOG_LEVEL: info
  FEATURE_X: "on"
"""
SERVICE = """apiVersion: v1
kind: Service
metadata: {{name: svc-{i}, namespace: team-{team}}}
spec:
  selector: {{app: app-{i}}}
  ports:
  - {{name: http, port: 80, targetPort: 8080}}
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}, namespace: team-{team}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}}}}}
    spec:
      containers:
      - name: app
        image: registry.example.com/app:{i}
        ports: [{{containerPort: 8080}}]
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
"""
TEMPLATES = (CONFIGMAP, SERVICE, DEPLOYMENT)


def make_repo(root: Path, files: int) -> tuple[str, str]:
    """A repository with ``files`` manifests in 100 directories; returns (first commit, second commit)."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    chunks = [b"commit refs/heads/main\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata 7\ninitial\n"]
    for i in range(files):
        content = TEMPLATES[i % 3].format(i=i, team=i % 100).encode()
        chunks.append(b"M 100644 inline teams/team-%02d/object-%05d.yaml\ndata %d\n%s\n" % (i % 100, i, len(content),
                                                                                          content))
    changed = CONFIGMAP.format(i=0, team=0).replace("info", "debug").encode()
    chunks.append(b"commit refs/heads/main\ncommitter Bench <bench@example.com> 1700000100 +0000\ndata 7\nchange\n"
                  b"M 100644 inline teams/team-00/object-00000.yaml\ndata %d\n%s\n"
                  % (len(changed), changed))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(chunks), check=True)
    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], cwd=root, check=True)
    revs = subprocess.run(["git", "rev-list", "main"], cwd=root, check=True, capture_output=True, text=True)
    second, first = revs.stdout.split()
    return first, second


def stages(root: Path, rev: str) -> None:
    """One load taken apart: list and read blobs, parse, validate."""
    import git

    from gitapply.source.files import parse
    from gitapply.source.git import read_blobs
    from gitapply.source.validate import validate

    repo = git.Repo(root)
    start = time.perf_counter()
    listing = repo.git.ls_tree("-r", "-z", repo.commit(rev).tree.hexsha, stdout_as_string=False)
    entries = [record.partition(b"\t") for record in listing.split(b"\0") if record]
    shas = [meta.split(b" ")[2].decode() for meta, _, _ in entries]
    contents = read_blobs(repo, shas)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    manifests = [m for (_, _, name), sha in zip(entries, shas) for m in parse(contents[sha], name.decode())[0]]
    parse_s = time.perf_counter() - start
    start = time.perf_counter()
    validate(manifests)
    validate_s = time.perf_counter() - start
    print(f"  stages: ls-tree + cat-file --batch {read_s:.2f} s, parse {parse_s:.2f} s, validate {validate_s:.2f} s")

    start = time.perf_counter()
    one_by_one = {}
    for item in repo.commit(rev).tree.traverse():
        if item.type == "blob":
            one_by_one[item.path] = item.data_stream.read()
    traverse_s = time.perf_counter() - start
    repo.close()
    print(f"  instead, GitPython tree.traverse() + blob.data_stream.read() per blob: {traverse_s:.2f} s "
          f"for {len(one_by_one)} blobs (read only, no parsing)")


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory(prefix="bench-source-") as tmp:
        root = Path(tmp) / "repo"
        start = time.perf_counter()
        first, _ = make_repo(root, files)
        print(f"built a repository of {files} manifests in {time.perf_counter() - start:.2f} s (git fast-import)")

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        state = load(str(root), rev=first)
        cold = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert len(state.manifests) == files and state.revision == first
        print(f"load(repo, rev=<older commit>): {len(state.manifests)} objects")
        print(f"  first load in this process (imports GitPython, reads the schema): {cold:.2f} s")
        samples, cpu = [], []
        for _ in range(3):
            start, start_cpu = time.perf_counter(), time.process_time()
            load(str(root), rev=first)
            samples.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"  later loads: median {statistics.median(samples):.2f} s wall "
              f"({statistics.median(samples) / files * 1e6:.0f} µs/file), {statistics.median(cpu):.2f} s CPU in this "
              f"process (the machine is shared: CPU time is the steadier figure)   target < 2 s")
        print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        stages(root, first)

        tracemalloc.start()
        load(str(root), rev=first)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"  memory: peak Python allocations during one load {peak / 2**20:.1f} MiB; process peak RSS "
              f"{rss_before:.0f} MiB before the first load, {rss_after:.0f} MiB after")


if __name__ == "__main__":
    main()
