"""Fixtures for tests against the real v1.20.2 control plane, started once per session with a simulated node.

A missing control plane is an error (the message says to run `make controlplane`), never a skip: a green run
must mean the integration tests ran. The control plane's logs are kept when any test failed, or when
`GITAPPLY_KEEP_LOGS` is set, and their directory is named in the terminal summary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ControlPlane, NodeSimulator
from tests.harness import nodesim

_HERE = Path(__file__).parent
_SUMMARY = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration, so `-m "not integration"` deselects exactly these."""
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for line in config.stash.get(_SUMMARY, []):
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """A started control plane with the node simulator running; stopped after the last test."""
    summary = request.config.stash.setdefault(_SUMMARY, [])
    with contextlib.ExitStack() as cleanup:
        plane = ControlPlane().start()
        cleanup.callback(_stop, plane, request.session, summary)
        summary.append(f"control plane started in {plane.startup_seconds:.1f} s")
        assert plane.logs_dir is not None
        cleanup.enter_context(_nodesim_log(plane.logs_dir / "nodesim.log"))
        simulator = NodeSimulator(plane.api)
        simulator.start()
        cleanup.callback(simulator.stop)
        yield plane


def _stop(plane: ControlPlane, session: pytest.Session, summary: list[str]) -> None:
    """Stop the control plane, keeping its logs if a test failed (or GITAPPLY_KEEP_LOGS is set)."""
    keep = session.testsfailed > 0 or bool(os.environ.get("GITAPPLY_KEEP_LOGS"))
    kept = plane.stop(keep_logs=keep)
    if kept is not None:
        summary.append(f"control plane logs kept in {kept}")


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting) afterwards."""
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = control_plane.new_namespace(prefix or "test")
    yield name
    control_plane.delete_namespace(name)


@contextlib.contextmanager
def _nodesim_log(path: Path) -> Iterator[None]:
    """Send the node simulator's log to the control plane's logs directory, beside the components' logs."""
    logger = logging.getLogger(nodesim.__name__)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
