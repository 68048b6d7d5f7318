# Two commands on a fresh machine:
#   make demo   set up .venv if needed, then run the nuclei demo end to end
#   make test   set up .venv if needed, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
export S4M_VENV := $(abspath $(VENV))

.PHONY: setup demo test

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/run_demo.py $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q tests $(PYTEST_ARGS)
