# Two commands matter: `make test` (everything, on a fresh machine) and `make demo`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test unit integration controlplane bench demo lint clean

test: unit controlplane integration

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m compileall -q gitapply
	touch $(STAMP)

# Fast tests that need no cluster run first, so a broken engine fails in seconds; the package is type-checked.
unit: $(STAMP)
	$(PY) -m mypy gitapply
	$(PY) -m pytest -q tests/unit tests/merge

# Builds (once, cached under ~/.cache/gitapply) the v1.20.2 control plane the integration tests start.
controlplane:
	bash scripts/controlplane/build.sh

integration: $(STAMP) controlplane
	$(PY) -m pytest -q tests/integration

# Figures, not pass/fail; the cluster benchmarks start their own control plane.
bench: $(STAMP) controlplane
	$(PY) benchmarks/bench_merge.py
	$(PY) benchmarks/bench_source.py
	$(PY) benchmarks/bench_cluster.py
	$(PY) benchmarks/bench_diff_apply.py
	$(PY) benchmarks/bench_apply_cpu.py
	$(PY) benchmarks/bench_startup.py

# The main job end to end on the embedded local cluster: no Kubernetes, no root, a minute.
demo: $(STAMP)
	PY=$(PY) bash scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
