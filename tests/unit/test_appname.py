"""One rule names an app, for its label and its inventory alike, checked before anything is written."""

from __future__ import annotations

import re

import pytest

from gitapply.cluster.local import LocalCluster
from gitapply.engine import appname
from gitapply.model import ObjectKey
from gitapply.ops.prepare import Request, app_name
from tests.unit.clirun import invoke

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@pytest.mark.parametrize("folder, expected", [
    ("web", "web"), ("my_app", "my-app"), ("Web.Frontend", "web-frontend"), ("__x__", "x"), ("...", "default"),
    ("a  b", "a-b"),
])
def test_a_folder_name_is_made_a_valid_name(folder, expected):
    assert appname.derived(folder) == expected


def test_a_long_folder_name_is_cut_with_a_stable_hash_that_keeps_names_apart():
    first, second = "payments-" + "x" * 80 + "-eu", "payments-" + "x" * 80 + "-us"
    assert DNS_LABEL.match(appname.derived(first)) and len(appname.derived(first)) == appname.MAX_LENGTH
    assert appname.derived(first) == appname.derived(first)
    assert appname.derived(first) != appname.derived(second)


@pytest.mark.parametrize("name", ["My_App", "web.frontend", "-web", "x" * 64, "web_"])
def test_an_invalid_explicit_name_is_refused_with_a_suggestion(name):
    with pytest.raises(appname.AppNameError) as refused:
        appname.checked(name)
    suggestion = str(refused.value).rpartition("--app ")[2].rstrip(")")
    assert DNS_LABEL.match(suggestion)


def test_the_name_comes_from_the_folder_the_subdir_or_the_repository(tmp_path, monkeypatch):
    (tmp_path / "Shop_Front").mkdir()
    assert app_name(Request(path=str(tmp_path / "Shop_Front") + "/")) == "shop-front"
    monkeypatch.chdir(tmp_path / "Shop_Front")
    assert app_name(Request(path=".")) == "shop-front", "'.' is named after the directory it stands for"
    assert app_name(Request(path="/srv/repo", subdir="deploy/Prod_EU")) == "prod-eu"
    assert app_name(Request(path="https://git.example.com/org/Ops_Config.git")) == "ops-config"
    assert app_name(Request(path="git@host:team/web.git")) == "web"


def test_a_folder_named_my_app_applies_with_a_valid_inventory(tmp_path):
    folder = tmp_path / "my_app"
    folder.mkdir()
    (folder / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n")
    store = tmp_path / "cluster.db"
    result = invoke(["--local", str(store), "apply", str(folder)])
    assert result.exit_code == 0, result.output
    cluster = LocalCluster(store)
    live = cluster.get(ObjectKey("", "v1", "ConfigMap", "default", "settings"))
    assert live is not None and live["metadata"]["labels"]["gitapply.io/app"] == "my-app"
    assert cluster.get(ObjectKey("", "v1", "ConfigMap", "default", "gitapply-inventory-my-app")) is not None


def test_an_invalid_app_option_writes_nothing(tmp_path):
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n")
    store = tmp_path / "cluster.db"
    result = invoke(["--local", str(store), "apply", str(tmp_path), "--app", "My_App"])
    assert result.exit_code == 2 and "--app my-app" in result.output
    assert LocalCluster(store).get(ObjectKey("", "v1", "ConfigMap", "default", "settings")) is None


def test_a_single_file_belongs_to_its_folders_app(tmp_path):
    (tmp_path / "ops" / "apps").mkdir(parents=True)
    (tmp_path / "ops" / "apps" / "cm.yaml").write_text("")
    assert app_name(Request(path=str(tmp_path / "ops" / "apps" / "cm.yaml"))) == "apps"
    assert app_name(Request(path=str(tmp_path / "ops" / "apps"))) == "apps"
