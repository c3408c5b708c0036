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

.PHONY: help setup demo test mmpose rtmlib pose-lite clean-demo bench browser-test benchmark benchmark-kinds checkpoints posed-demo

help:
	@echo "make demo    set up the virtualenv and run the pipeline on the demo dataset ($(DEMO_DIR)/)"
	@echo "make test    set up the virtualenv (with the optional MMPose and rtmlib backends) and run the test suite"
	@echo "make mmpose  add the optional MMPose backend to the virtualenv (see requirements-mmpose.txt)"
	@echo "make rtmlib  add the optional rtmlib (RTMPose/RTMW ONNX) backend"
	@echo "make pose-lite  install MediaPipe's lite pose model (npm registry) for --holistic-models lite"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make benchmark    the separation benchmark (does pose help?) into $(BENCH_OUT)/"
	@echo "make checkpoints  retrain the shipped separation checkpoints (the benchmark's rows) and their tables"
	@echo "make benchmark-kinds  every conditioning kind on the scenes where one kind of evidence decides, and its README table"
	@echo "make browser-test  install Debian's chromium if absent, load the results site in it"

setup: $(STAMP)

$(STAMP): requirements.txt requirements-mediapipe.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip<27"
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -r requirements-mediapipe.txt
	@touch $(STAMP)

# The whole pipeline on the demo concerts. Each stage skips finished work, so a second `make demo` is
# quick; `make clean-demo` (or -f on a stage) redoes it. Skipped songs (null fps, moving camera) are
# part of the demo and are reported, not failures.
DEMO_ENV := DATASET_PATH=$(DEMO_DIR)
CKPT := separation/checkpoints
demo: setup
	$(PY) -m demo_generator.main $(DEMO_DIR)
	$(DEMO_ENV) $(PY) -m dataset_analysis.main validate
	$(DEMO_ENV) $(PY) -m pose_estimation.main --pose --post
	$(DEMO_ENV) $(PY) -m dataset_analysis.main report
	$(DEMO_ENV) $(PY) -m feature_extraction.main --extract both --pca 3 --correlate
	$(DEMO_ENV) $(PY) -m visualization.main --add_audio
	$(DEMO_ENV) $(PY) -m separation.main separate --checkpoint $(CKPT)/vocal_face_small.pt
	$(DEMO_ENV) $(PY) -m separation.main evaluate --checkpoint $(CKPT)/vocal_face_small.pt --baseline $(CKPT)/vocal_none_small.pt
	$(DEMO_ENV) $(PY) -m separation.main evaluate --checkpoint $(CKPT)/vocal_face_body_xattn_small.pt --baseline $(CKPT)/vocal_none_small.pt
	$(DEMO_ENV) $(PY) -m gradient_saliency.integrated_gradients --model face_body
	$(DEMO_ENV) $(PY) -m attention_analysis.attention_analysis --model vocal
	$(DEMO_ENV) $(PY) -m visualization.site
	@echo
	@echo "Demo finished. Outputs:"
	@echo "  per song:      $(DEMO_DIR)/<artist>/<song>/  (pose_estimation_30fps.pkl, <instrument>/keypoints.npy,"
	@echo "                 *_features.json, correlation/, 0_*_test.mp4 overlay videos, separated_*.wav)"
	@echo "  dataset level: $(DEMO_DIR)/results/  (dataset report, correlation, separation scores,"
	@echo "                 integrated_gradients_all_face_body/figures, attention_figures_vocal)"
	@echo "  results site:  $(abspath $(DEMO_DIR))/results/site/index.html  (open it in a browser)"

# The separation benchmark (separation/benchmark.py, separation/checkpoints/README.md): scenes where
# only the queried performer's motion tells the same-timbre stems apart, five rows trained alike,
# numbers on the test scenes and on the posed demo songs. `make checkpoints` is the same run into
# the shipped checkpoints (retrained: -f) and rewrites the documents' tables from its JSON.
BENCH_OUT ?= results/separation_benchmark
BENCH_SCENES ?= results/benchmark_scenes
BENCH_ARGS ?=
# the shipped rows: all five benchmark rows
CHECKPOINT_ROWS ?= none face body face_body face_body_xattn
posed-demo: setup
	$(PY) -m demo_generator.main $(DEMO_DIR)
	$(DEMO_ENV) $(PY) -m pose_estimation.main --pose --post

benchmark: posed-demo
	$(PY) -m separation.main benchmark --out $(BENCH_OUT) --scenes_dir $(BENCH_SCENES) \
		--demo_dataset $(DEMO_DIR) $(BENCH_ARGS)

checkpoints: posed-demo
	$(PY) -m separation.main benchmark --out results/separation_checkpoints \
		--scenes_dir $(BENCH_SCENES) --checkpoints_dir $(CKPT) --demo_dataset $(DEMO_DIR) \
		--rows $(CHECKPOINT_ROWS) -f $(BENCH_ARGS)
	$(PY) -m separation.report_tables

# Every conditioning kind as a row, on the scene kinds where one kind of evidence alone decides
# (README "Which evidence helps where"); the rows' checkpoints stay in $(KINDS_OUT) (not shipped),
# the JSON is committed as benchmarks/results/separation_benchmark_kinds.json.
KINDS_OUT ?= results/separation_benchmark_kinds
KINDS_ROWS ?= none face body face_body frames points3d text scene_graph none_unet frames_unet
KINDS_SCENES ?= appearance duet_lookalike syllables occluded
benchmark-kinds: setup
	$(PY) -m separation.main benchmark --out $(KINDS_OUT) --scenes_dir $(KINDS_OUT)/scenes \
		--rows $(KINDS_ROWS) --kinds $(KINDS_SCENES) --train 16 --validation 4 --test 8 $(BENCH_ARGS)
	cp $(KINDS_OUT)/separation_benchmark.json benchmarks/results/separation_benchmark_kinds.json
	$(PY) -m separation.report_tables

# MMPose 1.3.2 pins and the reasons for --no-deps are in requirements-mmpose.txt. xtcocotools' PyPI
# wheel is built against numpy 1, so it is compiled here against the installed numpy 2.
MMPOSE_STAMP := $(VENV)/.mmpose-installed
RTMLIB_STAMP := $(VENV)/.rtmlib-installed
mmpose: $(MMPOSE_STAMP)
$(MMPOSE_STAMP): $(STAMP) requirements-mmpose.txt
	$(PIP) install --quiet "setuptools<81" "cython>=3,<4"
	$(PIP) install --quiet --no-deps --no-build-isolation --no-binary xtcocotools xtcocotools==1.14.3
	$(PIP) install --quiet --no-deps -r requirements-mmpose.txt
	@touch $(MMPOSE_STAMP)

rtmlib: $(RTMLIB_STAMP)
$(RTMLIB_STAMP): $(STAMP) requirements-rtmlib.txt
	$(PIP) install --quiet --no-deps -r requirements-rtmlib.txt
	@touch $(RTMLIB_STAMP)

# MediaPipe's lite pose landmark model (--holistic-models lite / lite-no-hands) is not in the
# mediapipe wheel and mediapipe would download it at run time; this fetches Google's npm package
# @mediapipe/pose from registry.npmjs.org once, checks the file's SHA-256 and copies it into the
# venv's mediapipe/modules/pose_landmark/ (pose_estimation/lite_models.py; fails naming the URL
# when the registry cannot be reached). The default models need nothing of it.
POSE_LITE_STAMP := $(VENV)/.pose-lite-installed
pose-lite: $(POSE_LITE_STAMP)
$(POSE_LITE_STAMP): $(STAMP) pose_estimation/lite_models.py
	$(PY) -m pose_estimation.lite_models install
	@touch $(POSE_LITE_STAMP)

# Every backend and option is tested: the optional MMPose and rtmlib installs (~40 s once) and the
# lite pose model (~3 s) come with the test setup, and REQUIRE_OPTIONAL_BACKENDS=1 turns their
# tests' "not installed" skip into a failure.
test: setup mmpose rtmlib pose-lite
	REQUIRE_OPTIONAL_BACKENDS=1 $(PY) -m pytest -q -ra tests

# The results site in a real browser (headless Chromium over the DevTools pipe). `make test` skips
# this test when /usr/bin/chromium is absent; this target installs it (Debian packages) first.
# Screenshots of the pages land in results/browser-test/.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-test: setup
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium and chromium-driver"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; fi
	SITE_SCREENSHOTS=$(CURDIR)/results/browser-test $(PY) -m pytest -q -ra tests/visualization/test_site.py
	@echo "screenshots: $(CURDIR)/results/browser-test/"

bench: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean-demo:
	rm -rf $(DEMO_DIR)
