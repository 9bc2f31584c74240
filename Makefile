# Two commands set everything up on a fresh machine with Python >= 3.11:
#   make demo   -- creates .venv, installs lmv, runs the end-to-end demo
#   make test   -- creates .venv with the dev extras if needed, runs the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo_out

.PHONY: demo test test-slow mutate bench clean

# torch goes in first and pinned: a loose requirement would pull a CUDA build and its packages.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,metrics,video]'
	touch $@

LMV := $(VENV)/bin/lmv

# The end-to-end path as far as it exists: render procedural scenes in the UE4 export layout, check
# them, pack them into a Zarr store, and resolve the FSNet training recipe (model built, counts printed).
demo: $(VENV)/.installed
	$(LMV) synth $(DEMO)/export --scene all --frames 24 --size 320x180
	$(LMV) capture-check $(DEMO)/export
	$(LMV) pack $(DEMO)/export $(DEMO)/store.zarr --overwrite
	$(LMV) train --config configs/fsnet.yaml --dry-run
	@echo "demo outputs in $(DEMO)/ (export/: EXR frames, store.zarr: packed store)"

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n 2

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m slow

# Mutation testing (README, "Mutation testing"): slow, never part of `make test`. MUTATE picks modules by
# mutant-name glob, e.g. `make mutate MUTATE="lmv_cli.core.losses.* lmv_cli.core.metrics.*"`.
MUTATE ?= lmv_cli.core.*
mutate: $(VENV)/.installed-dev
	nice -n 15 $(VENV)/bin/mutmut run --max-children 2 $(foreach m,$(MUTATE),"$(m)")
	$(PY) tests/mutation/summary.py $(foreach m,$(MUTATE),$(subst *,,$(m)))

bench: $(VENV)/.installed
	$(PY) -m benchmarks.bench_model
	$(PY) -m benchmarks.bench_pack
	$(PY) -m benchmarks.bench_read
	$(PY) -m benchmarks.bench_train

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache mutants
