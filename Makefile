# Two commands on a fresh machine:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

## run: install nubis into .venv and start the server on 127.0.0.1:8750
run: install
	$(BIN)/nubis server $(ARGS)

## test: install the test dependencies and run the whole suite
test: install-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## bench: install the bench extra (and wrk, as root) and run the benchmarks (ratios against in-run baselines)
bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; } \
	      || echo "bench: could not install wrk: throughput.py will skip"; \
	  else echo "bench: wrk is missing and this is not root: throughput.py will skip (apt-get install wrk)"; fi; }
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
