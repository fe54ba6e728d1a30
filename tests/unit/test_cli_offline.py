"""The command line's own contract, where no cluster is needed: version, usage errors, exit codes."""

from __future__ import annotations

from typer.testing import CliRunner

from gitapply import __version__
from gitapply.cli import app

runner = CliRunner()


def test_version_prints_and_exits_0():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_an_unknown_fail_on_value_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["drift", str(tmp_path), "--fail-on", "sometimes"])
    assert result.exit_code == 2 and "--fail-on must be drift, pending or any" in result.output


def test_a_missing_kubeconfig_exits_3_and_says_what_to_pass(tmp_path):
    result = runner.invoke(app, ["diff", str(tmp_path), "--kubeconfig", str(tmp_path / "nope")])
    assert result.exit_code == 3
    assert "no kubeconfig" in result.output and "--kubeconfig" in result.output


def test_a_malformed_selector_is_a_usage_error(tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text('{"apiVersion": "v1", "kind": "Config", "current-context": "c", "clusters": '
                          '[{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}], "users": '
                          '[{"name": "u", "user": {"token": "t"}}], "contexts": '
                          '[{"name": "c", "context": {"cluster": "c", "user": "u"}}]}')
    result = runner.invoke(app, ["diff", str(tmp_path), "--kubeconfig", str(kubeconfig), "-l", "tier"])
    assert result.exit_code == 2 and "name=value" in result.output
