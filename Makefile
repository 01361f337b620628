# Two commands on a fresh machine: `make run` (serve on embedded defaults) and `make test`.
# Both bootstrap the virtualenv, the packages and the index they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
XS     := $(VENV)/bin/xiaoshen
STAMP  := $(VENV)/.installed

.PHONY: run test venv index clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# the CPU build of torch first, so nothing later pulls a CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,postgres]'
	touch $(STAMP)

venv: $(STAMP)

index: $(STAMP)
	$(XS) kb build

run: index
	$(XS) serve

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) data
