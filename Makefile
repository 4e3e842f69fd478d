# Quick start:  make demo   (main job on the embedded MNIST subset)
#               make test   (whole test suite)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# the CPU wheel of torch must be installed before anything that depends on it,
# otherwise pip pulls the CUDA build (several GB); pyproject.toml only asks for a range
TORCH  := torch==2.13.0

.PHONY: demo test test-quick install install-test bench conformance clean fashion-mnist native-deps native-module brian2-cache docs docs-screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(TORCH)
	# demo and tests use every engine: every simulator extra (brian2, pynn, neo), the test tools
	# and the documentation tools (the tests check the docs' code blocks and API pages)
	$(BIN)/pip install -e ".[all,test,docs]"
	touch $@

install: $(VENV)/.installed

install-test: install

demo: install
	$(BIN)/sleep-replay run configs/demo.toml --out results/demo

# full Fashion-MNIST comes from Debian's package (needs root and apt; tests fail, not skip, without it)
fashion-mnist:
	@dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } || \
	  echo "warning: could not install dataset-fashion-mnist; Fashion-MNIST tests will fail"

# the NEST extension module of engine pynn.nest.native is compiled on first use: a C++ compiler,
# the Boost headers and ltdl.h (NEST's headers include them); needs root and apt, as fashion-mnist
native-deps:
	@dpkg -s g++ libboost-dev libltdl-dev >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq g++ libboost-dev libltdl-dev; } || \
	  echo "warning: could not install g++ libboost-dev libltdl-dev; the pynn.nest.native tests will fail"

# compile (once; cached, keyed by NEST version, flags and sources) the module before the tests, so
# no test pays the compiler's 20-30 CPU-s and the CPU-time guard of the fast tier is not tripped
native-module: install-test native-deps
	@$(BIN)/python -c "import snn.pynn; from snn.nestmodule.build import build_module; print('NEST module:', build_module())" \
	  || echo "warning: could not build NEST's src_synapse module; the pynn.nest.native tests will fail"

# tests run on PYTEST_WORKERS pytest-xdist processes (this machine's 2 cores; 0: in this process)
# and end with the 20 slowest; compiled Brian2 code is shared by every process of the run.
# --dist load (xdist's default, in collection order) balances the two workers best: replayed on the suite's
# per-test profile (200 noisy variants of it), the run ended on average 8 s (95th percentile 32 s) after
# half the total work, against 22 s (77 s) with --dist worksteal; slow tests first: 52 s (worksteal), 305 s (load)
PYTEST_WORKERS ?= 2
PYTEST = $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist load --durations=20

# compile the Brian2 engine's Cython code of the test networks (float64 and float32, one process each)
# before the tests, so that the two test workers do not compile the same code at once, one waiting for the other
brian2-cache: install-test
	@$(BIN)/python -m tests._brian2_cache || echo "warning: could not compile Brian2's code before the tests; the Brian2 tests compile it"

test: install-test fashion-mnist native-module brian2-cache
	$(PYTEST)

# the fast tier while you work: every test not marked slow
test-quick: install-test fashion-mnist native-module
	$(PYTEST) -m "not slow"

conformance: install
	for f in ../shared/golden/*.npz; do $(BIN)/sleep-replay conformance $$f || exit 1; done

# the documentation site (docs/_build/html/index.html): warnings are errors
docs: install
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# headless Chromium screenshots of the built site (docs/_build/screenshots/*.png); needs root for apt
docs-screenshots: docs
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
	$(BIN)/python docs/screenshots.py

bench: install
	$(BIN)/python benchmarks/bench_fast_engine.py

clean:
	rm -rf $(VENV) results .pytest_cache docs/_build docs/api docs/generated
