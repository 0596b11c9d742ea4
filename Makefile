# Two commands for a fresh Debian/Ubuntu machine (root or sudo):
#   make demo  - install everything, make sample scans, ingest them, serve the review app
#   make test  - install everything (incl. test tools and Chromium), run the whole test suite
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := tesseract-ocr tesseract-ocr-ind poppler-utils
TEST_APT_PKGS := chromium postgresql
DATA ?= susulan-data
PORT ?= 8501

.PHONY: demo test system-deps test-system-deps venv lint bench review-bench clean

system-deps:
	@missing=""; for p in $(APT_PKGS) $(EXTRA_APT); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing python3-venv; fi

test-system-deps:
	@$(MAKE) --no-print-directory system-deps EXTRA_APT="$(TEST_APT_PKGS)"

$(BIN)/susulan: pyproject.toml tools/pyproject.toml constraints.txt
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]' -e tools
	@touch $@

venv: $(BIN)/susulan

demo: system-deps venv
	$(BIN)/susulan samples make --out $(DATA)/demo-scans --pages 12 --seed 7 --first-day $$(date -d "3 days ago" +%F)
	$(BIN)/susulan ingest $(DATA)/demo-scans --data-dir $(DATA) || [ $$? = 4 ]
	$(BIN)/susulan status --data-dir $(DATA)
	echo demo-susulan | $(BIN)/susulan users add demo --role admin --replace --data-dir $(DATA)
	@echo; echo "Review app: http://127.0.0.1:$(PORT)  login: demo / demo-susulan  (Ctrl+C to stop)"; echo
	$(BIN)/susulan review --data-dir $(DATA) --port $(PORT)

test: test-system-deps venv lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: venv
	$(BIN)/ruff check pipeline review_app tests tools
	$(BIN)/mypy

bench: system-deps venv
	$(BIN)/susulan bench --pages 60

review-bench: test-system-deps venv
	$(BIN)/susulan bench --review

clean:
	rm -rf $(VENV) $(DATA)
