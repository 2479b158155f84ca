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
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/yolofreeze-tui --demo

lint: $(STAMP)
	$(PY) -m ruff check core tui tests bench
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) bench/inspect_speed.py

clean:
	rm -rf $(VENV) .cache
