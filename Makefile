# Two entry points for a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo demo-train demo-grid test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU pin: pip takes these two wheels from the machine's local disk.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	mkdir -p out
	$(BIN)/cxrlabel extract examples/reports.csv -o out/labels.csv --evidence out/evidence.jsonl
	$(BIN)/cxrlabel evaluate out/labels.csv examples/gold.csv --evidence out/evidence.jsonl

# cxrclf on synthetic chest-film phantoms: a few CPU minutes
demo-train: install
	rm -rf out/demo out/demo-run
	$(BIN)/cxrclf demo-data -o out/demo --films 400 --nih-films 60
	$(BIN)/cxrclf train --manifest out/demo/manifest.csv -o out/demo-run --config configs/demo.yaml
	$(BIN)/cxrclf evaluate out/demo-run --quiet

# The README's example grid: two networks x three regimes on the phantoms (CPU, ~30 min;
# the ImageNet cells are reported as skipped unless torchvision's weight files are installed).
demo-grid: install
	rm -rf out/demo-grid
	$(BIN)/cxrclf demo-data -o out/demo-grid/data --films 600 --nih-films 300
	$(BIN)/cxrclf grid --archs alexnet,resnet34 --pretrain none,imagenet,chestx14 \
		--data out/demo-grid/data/manifest.csv --config configs/demo.yaml \
		--nih-dir out/demo-grid/data/nih -o out/demo-grid --paper --quiet

test: install
	$(BIN)/ruff check .
	$(BIN)/vulture
	$(BIN)/pytest

bench: install
	$(BIN)/python benchmarks/bench_labeler.py
	$(BIN)/python benchmarks/bench_audit.py
	$(BIN)/python benchmarks/bench_dicom.py
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) out
