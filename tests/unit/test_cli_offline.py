"""The command line's own contract, where no cluster is needed: version, usage errors, exit codes."""

from __future__ import annotations

from gitapply import __version__
from tests.unit.clirun import invoke


def test_version_prints_and_exits_0():
    result = invoke(["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_an_unknown_fail_on_value_is_a_usage_error(tmp_path):
    result = invoke(["drift", str(tmp_path), "--fail-on", "sometimes"])
    assert result.exit_code == 2 and "--fail-on must be drift, pending or any" in result.output


def test_a_missing_kubeconfig_exits_3_and_says_what_to_pass(tmp_path):
    result = invoke(["diff", str(tmp_path), "--kubeconfig", str(tmp_path / "nope")])
    assert result.exit_code == 3
    assert "no kubeconfig" in result.output and "--kubeconfig" in result.output


def test_a_malformed_selector_is_a_usage_error(tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text('{"apiVersion": "v1", "kind": "Config", "current-context": "c", "clusters": '
                          '[{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}], "users": '
                          '[{"name": "u", "user": {"token": "t"}}], "contexts": '
                          '[{"name": "c", "context": {"cluster": "c", "user": "u"}}]}')
    result = invoke(["diff", str(tmp_path), "--kubeconfig", str(kubeconfig), "-l", "tier"])
    assert result.exit_code == 2 and "name=value" in result.output


def _python(code: str, env_home, *args: str):
    import os
    import subprocess
    import sys

    # the cache folder's fallback under $XDG_CACHE_HOME (tests/unit/test_cache.py has the whole rule)
    env = {**{k: v for k, v in os.environ.items() if k != "GITAPPLY_CACHE"}, "XDG_CACHE_HOME": str(env_home)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60)


def test_version_answers_before_the_command_line_is_built(tmp_path):
    result = _python("import sys; sys.argv = ['gitapply', '--version']; from gitapply.entry import main; main(); "
                     "print('cli loaded' if 'gitapply.cli' in sys.modules else 'cli not loaded')", tmp_path)
    assert result.returncode == 0 and result.stdout.split("\n")[:2] == [f"gitapply {__version__}", "cli not loaded"]


def test_an_unexpected_exception_is_one_line_exit_70_and_a_report_file(tmp_path):
    (tmp_path / "app").mkdir()
    code = ("import sys; import gitapply.ops.prepare as prepare\n"
            "def broken(*args, **kwargs): raise ZeroDivisionError('simulated bug')\n"
            "prepare.prepare = broken\n"
            "sys.argv = ['gitapply', '--local', sys.argv[1], 'diff', sys.argv[2]]\n"
            "from gitapply.entry import main; main()\n")
    result = _python(code, tmp_path, str(tmp_path / "cluster.db"), str(tmp_path / "app"))
    assert result.returncode == 70, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "ZeroDivisionError: simulated bug" in result.stderr and "This is a bug in gitapply" in result.stderr
    (report,) = (tmp_path / "gitapply" / "crashes").iterdir()
    assert "Traceback" in report.read_text() and "simulated bug" in report.read_text()


def test_diff_leaves_the_heavy_libraries_unloaded(tmp_path):
    """A ``diff`` is run by hand many times a day: typer and pydantic (0.2 s together), the official client,
    GitPython, and rich (55 ms; a diff is plain lines) have no part in a diff of a folder and must stay unloaded."""
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n")
    code = ("import sys\n"
            "sys.argv = ['gitapply', '--local', sys.argv[1], 'diff', sys.argv[2], '--max-input-size', '4']\n"
            "from gitapply.entry import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('typer', 'pydantic', 'kubernetes', 'git', 'deepdiff', 'rich') if m in sys.modules))\n")
    result = _python(code, tmp_path, str(tmp_path / "store.json"), str(app_dir))
    assert "1 to create" in result.stdout, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
