# pipeline_kit: everything goes through this file. `make report` and `make test` on a fresh
# clone create the virtual environment, install the pinned dependencies and run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Jupyter's "python3" kernel runs `python` from PATH: make it the venv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)
MAVEN  ?= ../shared/realdata/maven-crm
PERIOD ?= latest

.PHONY: install browser db test lint lab report report-maven sample docs notebooks bench bench-scale bench-pushdown-scale bench-coverage bench-forecast bench-reports clean

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# the suite in TEST_WORKERS processes (pytest-xdist), each test file in one of them: 10 min
# instead of 17 on 2 cores
TEST_WORKERS ?= 2

test: install browser db
	$(BIN)/ruff check pipeline_kit tests bench
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The report browser test drives Debian's chromium (never a downloaded browser build); the
# Chinese reports' test needs a CJK font (fonts-noto-cjk), installed with it.
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then :; \
	elif [ "$$(id -u)" = "0" ]; then \
	  for try in 1 2; do \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	      fonts-noto-cjk) >/dev/null 2>&1 && break; sleep 5; \
	  done; command -v chromium >/dev/null || echo "could not install chromium"; \
	else echo "chromium or fonts-noto-cjk not installed and not root: browser tests may be skipped"; fi

# The PostgreSQL test starts a throwaway cluster with Debian's server binaries (as root only;
# never fails the build: without them tests/test_database.py skips its PostgreSQL tests).
db:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ]; then \
	  for try in 1 2; do \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
	      >/dev/null 2>&1 && break; sleep 5; \
	  done; ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || echo "could not install postgresql"; \
	else echo "postgresql not installed and not root: the PostgreSQL tests will be skipped"; fi

lab: install  ## JupyterLab from the project environment (the kernel sees pipeline_kit)
	$(BIN)/jupyter lab notebooks

lint: install
	$(BIN)/ruff check pipeline_kit tests bench
	$(BIN)/ruff format --check pipeline_kit tests bench
	$(BIN)/python -m mypy

report: install
	$(BIN)/pipeline-kit report --data data/sample --period $(PERIOD) --out reports
	@if [ -d "$(MAVEN)" ]; then $(MAKE) --no-print-directory report-maven; \
	else echo "($(MAVEN) not found: skipping the Maven example report)"; fi

report-maven: install
	$(BIN)/pipeline-kit report --data $(MAVEN) --source maven --period 2017-Q4 --out reports/maven

sample: install
	$(BIN)/pipeline-kit sample --deals 5000 --seed 7 --out data/sample

# pipeline_kit vs pandas vs DuckDB vs the scan floor at 1M and 10M deals (bench/RESULTS.md)
bench: install
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[bench]'
	$(BIN)/python bench/engines.py --deals 1000000 10000000 --rounds 5 --results

bench-scale: install
	$(BIN)/python bench/scale.py --deals 1000000

# the pushdown prototype inside DuckDB at 10M and 50M deals against pk.load (bench/RESULTS.md)
bench-pushdown-scale: install
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[bench]'
	$(BIN)/python bench/pushdown_scale.py --deals 10000000 50000000 --rounds 2 --results

bench-coverage: install
	$(BIN)/python bench/coverage.py

bench-forecast: install  ## the forecast's backtest on simulated organisations (bench/RESULTS.md)
	$(BIN)/python bench/forecast.py --seeds 1 2 3 --results

bench-reports: install
	$(BIN)/python bench/reports.py

notebooks: install  ## re-execute the notebooks in place (refreshes the outputs nbval compares)
	cd notebooks && for nb in *.ipynb; do \
	  ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

docs: install
	$(BIN)/python -m pipeline_kit.docs README.md

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache
