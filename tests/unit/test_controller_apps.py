"""The apps file: defaults filled in, every problem reported with its file and line before anything starts."""

from __future__ import annotations

import pytest

from gitapply.controller.apps import AppEntry, AppsFileError, parse_apps
from gitapply.model import ApplyMethod

DEFAULTS = AppEntry(name="", repository="", interval=30, inventory_namespace="gitapply")


def test_apps_take_the_defaults_for_what_they_leave_out():
    apps = parse_apps("apps:\n  - name: shop\n    repository: /srv/ops\n    path: shop\n    prune: true\n"
                      "  - name: blog\n    repository: /srv/blog\n    interval: 5\n    detectOnly: true\n",
                      "apps.yaml", DEFAULTS)
    assert apps == (AppEntry("shop", "/srv/ops", path="shop", interval=30, prune=True, inventory_namespace="gitapply"),
                    AppEntry("blog", "/srv/blog", interval=5, detect_only=True, inventory_namespace="gitapply"))


def test_an_app_may_choose_server_side_apply():
    (app,) = parse_apps("apps:\n  - {name: a, repository: x, applyMethod: server-side}\n", "apps.yaml", DEFAULTS)
    assert app.method is ApplyMethod.SERVER_SIDE


@pytest.mark.parametrize("text, expected", [
    ("apps:\n  - name: shop\n    repository: x\n    prnue: true\n", "apps.yaml:4: unknown key 'prnue'"),
    ("apps:\n  - name: shop\n", "apps.yaml:2: the app needs a repository"),
    ("apps:\n  - name: shop\n    repository: x\n    prune: maybe\n", "apps.yaml:4: prune must be true or false"),
    ("apps:\n  - name: shop\n    repository: x\n    interval: 0\n", "apps.yaml:2: interval must be above 0"),
    ("apps:\n  - {name: a, repository: x}\n  - {name: a, repository: y}\n", "apps.yaml:3: app 'a' is listed twice"),
    ("apps: [\n", "apps.yaml:2: cannot be read as YAML"),
    ("apps: []\n", "lists no apps"),
    ("apps:\n  - {name: a, repository: x, applyMethod: ssa}\n", "apps.yaml:2: applyMethod must be server-side or "
                                                                  "client-side, not 'ssa'"),
    ("- name: a\n", "apps.yaml:1: expected a mapping with `apps:`"),
])
def test_problems_name_the_file_and_line(text, expected):
    with pytest.raises(AppsFileError) as caught:
        parse_apps(text, "apps.yaml", DEFAULTS)
    assert expected in str(caught.value)
    assert caught.value.exit_code == 2
