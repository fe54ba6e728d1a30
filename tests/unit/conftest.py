"""Unit tests keep their caches (the server's OpenAPI, the validation schemas) in a scratch folder, never in
the user's ``~/.cache/gitapply``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _scratch_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get("GITAPPLY_CACHE")
    os.environ["GITAPPLY_CACHE"] = str(tmp_path_factory.mktemp("gitapply-cache"))
    yield
    if previous is None:
        os.environ.pop("GITAPPLY_CACHE", None)
    else:
        os.environ["GITAPPLY_CACHE"] = previous
