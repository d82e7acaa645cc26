# gansr: every target installs what it needs on first use (a venv in .venv).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SCALE  ?= smoke
EVAL_ONLY ?= 0
ESTIMATE ?= 0
WANDB ?=
THREADS ?= 1

.DEFAULT_GOAL := help
.PHONY: help install demo weights test test-fast bench clean table-mask table-fasrgan table-fasrgan-ablation table-srgan

help: ## list the targets
	@grep -E '^[a-zA-Z_ -]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  make %-28s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-export.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-export.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install gansr with its dependencies (and the [export] extra)

demo: $(STAMP) ## train a tiny FASRGAN on images shipped with scikit-image (offline, CPU, < 5 min; THREADS=1)
	WANDB_MODE=offline $(VENV)/bin/gansr-demo --threads $(THREADS)

weights: $(STAMP) ## download and check VGG19, AlexNet (LPIPS), NIQE and NRQM files (connected machines)
	$(VENV)/bin/gansr-fetch-weights

test: $(STAMP) ## run the test suite
	$(PY) -m pytest -q

test-fast: $(STAMP) ## the test suite without tests marked slow
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP) ## benchmarks: prints a table and writes benchmarks/results.json
	$(PY) benchmarks/run.py

table-mask table-fasrgan table-fasrgan-ablation table-srgan: $(STAMP) ## reproduce a paper table (SCALE=smoke|paper, EVAL_ONLY=0|1, ESTIMATE=1: GPU-hour estimate, WANDB=0|1)
	$(PY) -m gansr.tables --table $(subst -,_,$(patsubst table-%,%,$@)) --scale $(SCALE) $(if $(filter 1,$(EVAL_ONLY)),--eval-only) $(if $(filter 1,$(ESTIMATE)),--estimate) $(if $(filter 1,$(WANDB)),--wandb,$(if $(filter 0,$(WANDB)),--no-wandb))

clean: ## remove outputs (keeps .venv)
	rm -rf outputs multirun demo_outputs wandb lightning_logs .pytest_cache
