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
	$(PY) -m pip install -q -e '.[video]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,metrics,video,onnx]'
	touch $@

LMV := $(VENV)/bin/lmv

# The main job on the embedded default: a procedural scene the bundled model never saw (synth `orbit`,
# seed 7) in the UE4 export layout, checked, packed, then `lmv extrapolate --frames 2` with the bundled
# model: metrics table (model vs warp vs repeat), EXR/PNG frames, contact sheet, video. A second run
# reuses the export and the store (stamp files) and only extrapolates again.
demo: $(VENV)/.installed $(DEMO)/.packed
	$(LMV) extrapolate $(DEMO)/store.zarr --frames 2 --out $(DEMO)/extrapolated --overwrite

$(DEMO)/.exported: | $(VENV)/.installed
	$(LMV) synth $(DEMO)/export --scene orbit --frames 24 --size 320x180 --seed 7
	$(LMV) capture-check $(DEMO)/export
	touch $@

$(DEMO)/.packed: $(DEMO)/.exported
	$(LMV) pack $(DEMO)/export $(DEMO)/store.zarr --overwrite
	touch $@

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n 2

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m slow

# Mutation testing (README, "Mutation testing"): slow, never part of `make test`. MUTATE picks modules by
# mutant-name glob, e.g. `make mutate MUTATE="lmv_cli.core.losses.* lmv_cli.core.metrics.*"`.
MUTATE ?= lmv_cli.core.*
mutate: $(VENV)/.installed-dev
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 15 $(VENV)/bin/mutmut run --max-children 2 $(foreach m,$(MUTATE),"$(m)")
	$(PY) tests/mutation/summary.py $(foreach m,$(MUTATE),$(subst *,,$(m)))

bench: $(VENV)/.installed
	$(PY) -m benchmarks.bench_model
	$(PY) -m benchmarks.bench_pack
	$(PY) -m benchmarks.bench_read
	$(PY) -m benchmarks.bench_train

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache mutants
