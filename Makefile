# Two commands set everything up on a fresh machine with Python >= 3.11:
#   make demo   -- creates .venv, installs lmv, runs the end-to-end demo
#   make test   -- creates .venv with the dev extras if needed, runs the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo_out

.PHONY: demo test test-slow mutate bench clean data

# torch goes in first and pinned: a loose requirement would pull a CUDA build and its packages.
# An editable install makes setuptools warn, every time, that folders named like the package may shadow it
# (lmv_cli is the only one); the filter silences that one caution in pip's build process, nothing else.
EDITABLE := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(EDITABLE) '.[video]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(EDITABLE) '.[dev,metrics,video,onnx]'
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

# Training corpus (README "Training data: make data"): every `lmv synth` scene for many seeds, one store per
# seed, plus optional Blender seeds; data outside the repo. Held out by construction: synth seed
# HELDOUT_SEED (packed alone under $(DATA_DIR)/heldout/) and the Blender scene `crossing` (never rendered
# here). One stamp per seed: an interrupted `make data` redoes only the seed it was on.
# $(DATA_DIR)/train_stores.txt lists the training stores (one a line) when it finishes.
DATA_DIR       ?= ../lmv-work/data
DATA_SIZE      ?= 320x180
DATA_WORKERS   ?= 1
HELDOUT_SEED   := 7
SYNTH_SEEDS    ?= $(shell seq 1 32)
SYNTH_FRAMES   ?= 64
BLENDER_SEEDS  ?=
BLENDER_FRAMES ?= 48
BLENDER_PY     ?= ../lmv-work/.venv-bpy/bin/python
BLENDER_TOOL   ?= ../shared/tools/blender_capture/make_dataset.py
TRAIN_SEEDS    := $(filter-out $(HELDOUT_SEED),$(SYNTH_SEEDS))
BLENDER_TRAIN  := $(filter-out 0,$(BLENDER_SEEDS))
STAMPS         := $(DATA_DIR)/stamps

data: $(STAMPS)/heldout_synth_s$(HELDOUT_SEED) $(TRAIN_SEEDS:%=$(STAMPS)/synth_s%) \
      $(BLENDER_TRAIN:%=$(STAMPS)/blender_s%)
	ls -d $(TRAIN_SEEDS:%=$(DATA_DIR)/stores/synth_s%.zarr) \
	    $(BLENDER_TRAIN:%=$(DATA_DIR)/stores/blender_s%.zarr) > $(DATA_DIR)/train_stores.txt
	@echo "training stores: $(DATA_DIR)/train_stores.txt; held out: $(DATA_DIR)/heldout/synth_s$(HELDOUT_SEED).zarr"

$(STAMPS)/synth_s%: | $(VENV)/.installed
	rm -rf $(DATA_DIR)/tmp/synth_s$*
	$(LMV) synth $(DATA_DIR)/tmp/synth_s$* --scene all --frames $(SYNTH_FRAMES) --size $(DATA_SIZE) --seed $* \
	    --workers $(DATA_WORKERS)
	$(LMV) pack $(DATA_DIR)/tmp/synth_s$* $(DATA_DIR)/stores/synth_s$*.zarr --overwrite --workers $(DATA_WORKERS)
	rm -rf $(DATA_DIR)/tmp/synth_s$*
	mkdir -p $(@D) && touch $@

$(STAMPS)/heldout_synth_s%: | $(VENV)/.installed
	rm -rf $(DATA_DIR)/tmp/heldout_s$*
	$(LMV) synth $(DATA_DIR)/tmp/heldout_s$* --scene all --frames 32 --size $(DATA_SIZE) --seed $* --workers $(DATA_WORKERS)
	$(LMV) pack $(DATA_DIR)/tmp/heldout_s$* $(DATA_DIR)/heldout/synth_s$*.zarr --overwrite --workers $(DATA_WORKERS)
	rm -rf $(DATA_DIR)/tmp/heldout_s$*
	mkdir -p $(@D) && touch $@

# Blender Cycles, about 2.5 s per 320x180 frame on 2 cores: only the seeds named in BLENDER_SEEDS (>= 1)
$(STAMPS)/blender_s%: | $(VENV)/.installed
	rm -rf $(DATA_DIR)/tmp/blender_s$*
	$(BLENDER_PY) $(BLENDER_TOOL) --scenes courtyard,corridor,glasshouse --frames $(BLENDER_FRAMES) \
	    --size $(DATA_SIZE) --seed-offset $* --python $(BLENDER_PY) --out $(DATA_DIR)/tmp/blender_s$*
	$(LMV) pack $(DATA_DIR)/tmp/blender_s$* $(DATA_DIR)/stores/blender_s$*.zarr --overwrite --workers $(DATA_WORKERS)
	rm -rf $(DATA_DIR)/tmp/blender_s$* $(DATA_DIR)/tmp/_raw_blender_s$*
	mkdir -p $(@D) && touch $@

# The suite's own plugins only (xdist, hypothesis): autoloading every installed pytest plugin also has pytest
# assert-rewrite all of zarr and hypothesis, uncached; bytecode caching on even where the environment turns it
# off (PYTHONDONTWRITEBYTECODE), so a second run does not rewrite and compile every test module again.
PYTEST_ENV = PYTHONDONTWRITEBYTECODE= PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
PYTEST_PLUGINS = -p xdist.plugin -p _hypothesis_pytestplugin

test: $(VENV)/.installed-dev
	$(PYTEST_ENV) $(PY) -m pytest -q -n 2 $(PYTEST_PLUGINS)

test-slow: $(VENV)/.installed-dev
	$(PYTEST_ENV) $(PY) -m pytest -q -m slow $(PYTEST_PLUGINS)

# Mutation testing (docs/testing.md#mutation-testing): slow, never part of `make test`. MUTATE picks modules by
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
