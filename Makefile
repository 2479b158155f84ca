# `make test` and `make demo` start from nothing: each creates .venv when missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/yolofreeze-tui --demo

# mypy sees the installed names (yolofreeze.core, yolofreeze.tui) through a tree of two symlinks.
TYPECHECK := .cache/typecheck
lint: $(STAMP)
	$(PY) -m ruff check core tui tests bench
	mkdir -p $(TYPECHECK)/yolofreeze
	ln -sfn ../../../core $(TYPECHECK)/yolofreeze/core
	ln -sfn ../../../tui $(TYPECHECK)/yolofreeze/tui
	cd $(TYPECHECK) && $(abspath $(PY)) -m mypy --config-file $(abspath pyproject.toml) -p yolofreeze.core -p yolofreeze.tui

bench: $(STAMP)
	$(PY) bench/inspect_speed.py

clean:
	rm -rf $(VENV) .cache
