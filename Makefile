# Two entry points: `make demo` (set up + run the whole pipeline on generated demo data) and
# `make test` (set up + run the test suite). Everything lives in the virtualenv $(VENV).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEMO_DIR ?= demo_data
STAMP := $(VENV)/.installed
# Keep the CPU torch build from using more threads than the machine has cores.
export OMP_NUM_THREADS ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: help setup demo test mmpose clean-demo bench

help:
	@echo "make demo    set up the virtualenv and run the pipeline on the demo dataset ($(DEMO_DIR)/)"
	@echo "make test    set up the virtualenv and run the test suite"
	@echo "make mmpose  add the optional MMPose backend to the virtualenv"
	@echo "make bench   run the benchmarks in benchmarks/"

setup: $(STAMP)

$(STAMP): requirements.txt requirements-mediapipe.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip<27"
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -r requirements-mediapipe.txt
	@touch $(STAMP)

demo: setup
	$(PY) -m dataset_analysis.demo $(DEMO_DIR)
	DATASET_PATH=$(DEMO_DIR) $(PY) -m pose_estimation.main --pose --post
	@echo "Demo outputs are under $(DEMO_DIR)/ (per-song pose_estimation_30fps.pkl and <instrument>/keypoints.npy)"

test: setup
	$(PY) -m pytest -q -ra tests

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean-demo:
	rm -rf $(DEMO_DIR)
