# asd_tf — every target runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

LOSS ?= subcluster_adacos
LABELS ?= attribute
EPOCHS ?= 10
BATCH ?= 64
SEED ?= 0
BACKBONE ?= reference
BRANCHES ?= both
STRATEGY ?= auto
LAYOUT ?= dcase2022
SIZE ?= small
PROFILE ?= factory
DATA ?=
RUN ?=
DATASET ?= dcase2022
TRIALS ?= 5
PRESET ?= full
TEST_WORKERS ?= 2

SYNTH_DIR := data/synthetic_$(LAYOUT)_$(SIZE)$(if $(filter-out factory,$(PROFILE)),_$(PROFILE),)
TRAIN_DATA := $(if $(DATA),$(DATA),$(SYNTH_DIR))
RUN_DIR := $(if $(RUN),$(RUN),runs/$(LOSS)_$(LABELS)_seed$(SEED))

.PHONY: venv data train evaluate compare test bench clean-venv

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Synthetic data are generated once and reused (the generator is deterministic).
$(SYNTH_DIR)/.complete: | $(STAMP)
	$(VENV)/bin/asd-tf synth $(SYNTH_DIR) --layout $(LAYOUT) --size $(SIZE) --profile $(PROFILE) --seed $(SEED)

data: $(STAMP) $(SYNTH_DIR)/.complete

train: $(STAMP) $(if $(DATA),,$(SYNTH_DIR)/.complete)
	$(VENV)/bin/asd-tf train --data $(TRAIN_DATA) --loss $(LOSS) --labels $(LABELS) \
	  --epochs $(EPOCHS) --batch-size $(BATCH) --seed $(SEED) --backbone $(BACKBONE) \
	  --branches $(BRANCHES) --strategy $(STRATEGY) --out $(RUN_DIR)

evaluate: $(STAMP)
	@test -n "$(RUN)" || (echo "usage: make evaluate RUN=runs/<run>" && false)
	$(VENV)/bin/asd-tf evaluate $(RUN)

compare: $(STAMP)
	$(PY) experiments/compare_losses.py --dataset $(DATASET) --trials $(TRIALS) --preset $(PRESET) $(if $(DATA),--data $(DATA),)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --durations=15 tests

bench: $(STAMP)
	$(PY) benchmarks/bench.py

clean-venv:
	rm -rf $(VENV)
