# asd_tf — every target runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

LOSS ?= subcluster_adacos
LABELS ?= attribute
# Empty: the preset's value (full: the paper's 10 epochs, batch 64, reference model, both branches).
EPOCHS ?=
BATCH ?=
SEED ?= 0
BACKBONE ?=
BRANCHES ?=
STRATEGY ?=
LAYOUT ?= dcase2022
SIZE ?= small
PROFILE ?= factory
DATA ?=
RUN ?=
DATASET ?= dcase2022
TRIALS ?= 5
# train: demo without DATA (a few minutes on a CPU, asd_tf/training/demo.py), full (the paper's settings)
# with DATA; compare: full or quick (default full).
PRESET ?=
TEST_WORKERS ?= 2

SYNTH_DIR := data/synthetic_$(LAYOUT)_$(SIZE)$(if $(filter-out factory,$(PROFILE)),_$(PROFILE),)
TRAIN_PRESET := $(or $(PRESET),$(if $(DATA),full,demo))
# demo without DATA: `asd-tf train --preset demo` generates its own data set (data/synthetic_dcase2022_compare_mixed_state)
TRAIN_DATA := $(if $(DATA),$(DATA),$(if $(filter full,$(TRAIN_PRESET)),$(SYNTH_DIR),))
RUN_DIR := $(if $(RUN),$(RUN),runs/$(if $(filter demo,$(TRAIN_PRESET)),demo_,)$(LOSS)_$(LABELS)_seed$(SEED))
TRAIN_FLAGS := $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(BATCH),--batch-size $(BATCH)) \
  $(if $(BACKBONE),--backbone $(BACKBONE)) $(if $(BRANCHES),--branches $(BRANCHES)) \
  $(if $(STRATEGY),--strategy $(STRATEGY))

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

train: $(STAMP) $(if $(TRAIN_DATA),$(if $(DATA),,$(SYNTH_DIR)/.complete))
	$(VENV)/bin/asd-tf train --preset $(TRAIN_PRESET) $(if $(TRAIN_DATA),--data $(TRAIN_DATA)) \
	  --loss $(LOSS) --labels $(LABELS) --seed $(SEED) $(strip $(TRAIN_FLAGS)) --out $(RUN_DIR)

evaluate: $(STAMP)
	@test -n "$(RUN)" || (echo "usage: make evaluate RUN=runs/<run>" && false)
	$(VENV)/bin/asd-tf evaluate $(RUN)

compare: $(STAMP)
	$(PY) experiments/compare_losses.py --dataset $(DATASET) --trials $(TRIALS) --preset $(or $(PRESET),full) $(if $(DATA),--data $(DATA),)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --durations=15 tests

bench: $(STAMP)
	$(PY) benchmarks/bench.py

clean-venv:
	rm -rf $(VENV)
