# Two commands set everything up on a fresh machine with Python >= 3.11:
#   make demo   -- creates .venv, installs lmv, runs the end-to-end demo
#   make test   -- creates .venv with the dev extras if needed, runs the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo_out

.PHONY: demo test test-slow bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: a loose requirement would pull the CUDA build and its packages
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,metrics]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/lmv demo $(DEMO)

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n 2

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m slow

bench: $(VENV)/.installed-dev
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
