# gansr: every target installs what it needs on first use (a venv in .venv).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SCALE  ?= smoke
EVAL_ONLY ?= 0
ESTIMATE ?= 0
WANDB ?=
THREADS ?= 1
TEST_JOBS ?= 2
SLURM ?= 1

.DEFAULT_GOAL := help
.PHONY: help install install-dev demo weights test test-fast bench clean table-mask table-fasrgan table-fasrgan-ablation table-srgan

help: ## list the targets
	@grep -E '^[a-zA-Z_ -]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  make %-28s %s\n", $$1, $$2}'

# pyiqa goes in without its dependency cascade (requirements-pyiqa.txt says why); requirements.txt holds what its
# NIQE/NRQM code imports.
$(STAMP): requirements.txt requirements-pyiqa.txt pyproject.toml
	@echo "make: creating $(VENV) and installing requirements.txt, pyiqa without dependencies and gansr (pip)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-pyiqa.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install gansr with its dependencies (and the [export] extra)

demo: $(STAMP) ## train a tiny FASRGAN on images shipped with scikit-image (offline, CPU, < 5 min; THREADS=1)
	WANDB_MODE=offline $(VENV)/bin/gansr-demo --threads $(THREADS)

weights: $(STAMP) ## download and check VGG19, AlexNet (LPIPS), NIQE and NRQM files (connected machines)
	$(VENV)/bin/gansr-fetch-weights

$(DEV_STAMP): $(STAMP) requirements-dev.txt requirements-export.txt
	@echo "make: installing requirements-dev.txt (pytest, pytest-xdist, the notebook kernel, Optuna) and requirements-export.txt (onnx, onnxscript, onnxruntime: the [export] extra) into $(VENV) (pip)"
	$(PY) -m pip install --quiet --no-warn-conflicts -r requirements-dev.txt -r requirements-export.txt
	touch $(DEV_STAMP)

install-dev: $(DEV_STAMP) ## also install what the tests, the notebook, Optuna sweeps and gansr-export need (requirements-dev.txt, requirements-export.txt)

# The SLURM tests (tests/slurm) start a single-node SLURM cluster, then a two-node one in network namespaces, on this
# machine; they run after the rest, in one process (the two clusters share munge and /run/netns); SLURM=0 leaves them out.
SLURM_NOTE := make test: tests/slurm start munged, slurmctld and slurmd (state in /tmp/gansr-slurm, stopped at the end) and a two-node cluster in network namespaces mn1/mn2 (removed at the end)$(if $(filter 0,$(shell id -u)),; as root they first install slurm-wlm and munge with apt-get when missing,; without root and without slurm-wlm they are skipped). SLURM=0 leaves them out.
PYTEST_ARGS := -q -n $(TEST_JOBS) --dist loadgroup --ignore=tests/slurm

test: $(DEV_STAMP) ## run the test suite in TEST_JOBS=2 processes, one thread each, then the SLURM tests (SLURM=0: without them)
	@echo "$(SLURM_NOTE)"
	OMP_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS)
	$(if $(filter 0,$(SLURM)),,OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:xdist tests/slurm)

test-fast: $(DEV_STAMP) ## the test suite without tests marked slow
	OMP_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS) -m "not slow"

bench: $(STAMP) ## benchmarks: prints a table and writes benchmarks/results.json
	$(PY) benchmarks/run.py

table-mask table-fasrgan table-fasrgan-ablation table-srgan: $(STAMP) ## reproduce a paper table (SCALE=smoke|paper, EVAL_ONLY=0|1, ESTIMATE=1: GPU-hour estimate, WANDB=0|1)
	$(PY) -m gansr.tables --table $(subst -,_,$(patsubst table-%,%,$@)) --scale $(SCALE) $(if $(filter 1,$(EVAL_ONLY)),--eval-only) $(if $(filter 1,$(ESTIMATE)),--estimate) $(if $(filter 1,$(WANDB)),--wandb,$(if $(filter 0,$(WANDB)),--no-wandb))

clean: ## remove outputs, including the README tour's LR/ SR/ scores.json (keeps .venv)
	rm -rf outputs multirun demo_outputs wandb lightning_logs .pytest_cache LR SR scores.json
