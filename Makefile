# `make demo` and `make test` do all set-up from a fresh clone: a virtual environment, the pinned
# torch build, the harness; then the job itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GRADE := $(VENV)/bin/grade
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

# Grade the bundled submissions (reference, untouched stubs, buggy examples) and write reports/.
demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m graders.batch.demo

test: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check graders tests bench
	$(VENV)/bin/mypy graders

clean:
	rm -rf reports .grading_cache
