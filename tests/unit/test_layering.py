"""The architecture's import rules, enforced: gitapply's layers, the merge engine's package API, one home for
each I/O library, and a pure core that reads no files. ``docs/architecture.md`` states the same rules.

Layers, top to bottom; each may import only those named in ``MAY_IMPORT`` (and itself):

- **entry points** (``cli.py`` with ``cli_reconcile.py`` and ``cli_workloads.py``, ``cliargs.py``, ``entry.py``,
  ``__main__.py``, ``controller/``): anything. Nothing
  else imports them.
- **session** (``session/``): everything but the entry points and ``terminal.py`` (it serves the controller and
  HTTP too, which have no terminal).
- **ops** (``ops/``): cluster, source, bundled, engine, merge, cache, base; never session, render, terminal.
- shared below them: **cluster** (bundled, engine, merge, cache, base), **source** (bundled, cache,
  base), **render** (engine, merge, base: pure output), **bundled** (``bundled.py``, the reader of shipped data:
  engine, merge, base), **cache** and **terminal** (base).
- **engine** (``engine/``): merge and base only: no ops, session, cluster, source, bundled, render.
- **merge** (``merge/``): nothing else from gitapply; others import it only as ``gitapply.merge``.
- **base** (``model.py``, ``errors.py``, the package's ``__init__.py``): nothing.

``merge/``, ``engine/`` and the controller's decisions are pure: no I/O library, no file call (``open()``,
``read_text``…). Data they need from disk is read by ``bundled.py`` and passed in.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.layers import Rules, check, layer_of

PACKAGE = Path(__file__).resolve().parents[2] / "gitapply"

ENTRY = "entry points"
LAYERS = {
    ENTRY: ("cli.py", "cli_reconcile.py", "cli_workloads.py", "cliargs.py", "entry.py", "__main__.py",
            "controller/"),
    "session": ("session/",),
    "ops": ("ops/",),
    "cluster": ("cluster/",),
    "source": ("source/",),
    "render": ("render/",),
    "bundled": ("bundled.py",),
    "cache": ("cache.py",),
    "terminal": ("terminal.py",),
    "engine": ("engine/",),
    "merge": ("merge/",),
    "base": ("model.py", "errors.py", "__init__.py"),
}
BELOW_SESSION = frozenset({"ops", "cluster", "source", "render", "bundled", "cache", "engine", "merge", "base"})
MAY_IMPORT = {
    ENTRY: frozenset(LAYERS) - {ENTRY},
    "session": BELOW_SESSION,
    "ops": frozenset({"cluster", "source", "bundled", "cache", "engine", "merge", "base"}),
    "cluster": frozenset({"bundled", "cache", "engine", "merge", "base"}),
    "source": frozenset({"bundled", "cache", "base"}),
    "render": frozenset({"engine", "merge", "base"}),
    "bundled": frozenset({"engine", "merge", "base"}),
    "cache": frozenset({"base"}),
    "terminal": frozenset({"base"}),
    "engine": frozenset({"merge", "base"}),
    "merge": frozenset(),
    "base": frozenset(),
}
RULES = Rules(
    package="gitapply",
    layers=LAYERS,
    may_import=MAY_IMPORT,
    package_api=frozenset({"merge"}),
    pure=("merge/", "engine/", "controller/lease.py", "controller/events.py", "controller/apps.py",
          "controller/probes.py", "controller/shard.py", "controller/queue.py"),
    homes={
        "kubernetes": ("cluster/official.py",),
        "urllib3": ("cluster/kube.py", "cluster/transport.py", "cluster/official.py"),
        "git": ("source/git.py",),
        "argparse": ("cliargs.py",),
        "rich": ("terminal.py", "cli.py", "render/"),
        "prometheus_client": ("controller/metrics.py", "controller/server.py"),
    },
)

# Known violations in modules being changed by another hand, each with its fix; an entry is removed with the fix
# (the test below fails once the violation is gone, so none outlives it).
PENDING: dict[tuple[str, str], str] = {}


def test_gitapply_keeps_its_layers():
    found = [v for v in check(PACKAGE, RULES) if (v.module, v.target) not in PENDING]
    assert not found, "\n".join(map(str, found))


def test_each_pending_violation_still_exists():
    current = {(v.module, v.target) for v in check(PACKAGE, RULES)}
    fixed = [f"{module} → {target}" for module, target in PENDING if (module, target) not in current]
    assert not fixed, f"fixed, so remove from PENDING: {fixed}"


def test_the_rules_name_every_layer_and_no_layer_may_import_an_entry_point():
    assert MAY_IMPORT.keys() == LAYERS.keys()
    assert all(allowed <= LAYERS.keys() for allowed in MAY_IMPORT.values())
    assert all(ENTRY not in allowed for allowed in MAY_IMPORT.values())


def test_the_session_layer_is_placed_whether_or_not_it_exists_yet():
    assert layer_of("session/__init__.py", RULES) == "session"
    assert layer_of("session.py", RULES) == "session"


SYNTHETIC = {
    "__init__.py": "",
    "model.py": "from .cli import main\n",
    "cli.py": "from .ops import apply\nfrom .session import run\n",
    "ops/__init__.py": "",
    "ops/apply.py": "from ..session import run\nfrom ..engine import plan\nfrom ..render import diff\n",
    "render/__init__.py": "",
    "render/diff.py": "from ..model import Change\n",
    "engine/__init__.py": "",
    "engine/plan.py": ("from ..ops.apply import write\nfrom ..source import read\nfrom ..cluster import kube\n"
                       "from ..merge.apply import merge_map\nfrom ..merge import Node\nfrom .. import bundled\n"),
    "engine/rules.py": ("from pathlib import Path\n\n\ndef load():\n    return Path('defaults.yaml').read_text()\n"),
    "engine/lazy.py": "def later():\n    import importlib.resources\n    from gitapply.controller import runner\n",
    "engine/walk.py": "import os\n\n\ndef files():\n    return os.listdir('.')\n",
    "merge/__init__.py": "from .apply import merge_map\n",
    "merge/apply.py": "from ..model import ObjectKey\n\n\ndef merge_map():\n    return open('x').read()\n",
    "source/__init__.py": "import git\n",
    "bundled.py": "",
    "cluster/__init__.py": "",
    "cluster/kube.py": "",
    "controller/__init__.py": "",
    "controller/runner.py": "",
    "stray.py": "",
}


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checker_reports_each_violation_of_a_synthetic_package(tmp_path):
    root = write_package(tmp_path / "gitapply", SYNTHETIC)
    found = {(v.module, v.line, v.message) for v in check(root, RULES)}
    expected = {
        ("model.py", 1, "base must not import entry points (gitapply.cli); it may import: nothing"),
        ("ops/apply.py", 1, "ops must not import session (gitapply.session); it may import: base, bundled, "
                            "cache, cluster, engine, merge, source"),
        ("ops/apply.py", 3, "ops must not import render (gitapply.render.diff); it may import: base, bundled, "
                            "cache, cluster, engine, merge, source"),
        ("engine/plan.py", 1, "engine must not import ops (gitapply.ops.apply); it may import: base, merge"),
        ("engine/plan.py", 2, "engine must not import source (gitapply.source); it may import: base, merge"),
        ("engine/plan.py", 3, "engine must not import cluster (gitapply.cluster.kube); it may import: base, merge"),
        ("engine/plan.py", 4, "imports gitapply.merge.apply, inside merge: import its package API instead"),
        ("engine/plan.py", 6, "engine must not import bundled (gitapply.bundled); it may import: base, merge"),
        ("engine/rules.py", 1, "is pure but imports pathlib"),
        ("engine/rules.py", 5, "is pure but calls .read_text() (file I/O)"),
        ("engine/lazy.py", 2, "is pure but imports importlib"),
        ("engine/lazy.py", 3, "engine must not import entry points (gitapply.controller.runner); it may import: "
                              "base, merge"),
        ("engine/walk.py", 1, "is pure but imports os"),
        ("engine/walk.py", 5, "is pure but calls .listdir() (file I/O)"),
        ("merge/apply.py", 1, "merge must not import base (gitapply.model); it may import: nothing"),
        ("merge/apply.py", 5, "is pure but calls open() (file I/O)"),
        ("source/__init__.py", 1, "imports git; only source/git.py may"),
        ("stray.py", 1, "belongs to no layer: add it to one in the rules"),
    }
    assert found == expected


def test_the_checker_passes_a_package_that_keeps_the_rules(tmp_path):
    root = write_package(tmp_path / "gitapply", {
        "__init__.py": "", "model.py": "", "cli.py": "from .session import run\nfrom .ops import apply\n",
        "session/__init__.py": "from ..ops.apply import write\nfrom ..render.diff import unified\n",
        "ops/__init__.py": "", "ops/apply.py": "from .. import bundled\nfrom ..engine.plan import make_plan\n",
        "render/__init__.py": "", "render/diff.py": "from ..engine import plan\n",
        "bundled.py": "from pathlib import Path\nfrom .merge import Schema\n\nPath('x').read_text()\n",
        "engine/__init__.py": "",
        "engine/plan.py": "from ..merge import Node\nfrom .. import merge\nfrom ..model import Plan\n",
        "merge/__init__.py": "from .apply import merge_map\n", "merge/apply.py": "import json\nfrom . import errors\n",
        "merge/errors.py": "",
    })
    assert check(root, RULES) == []
