# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv from the project's own files.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Pytest workers: the machines have 2 cores.
JOBS ?= 2

.PHONY: install demo reading-room web test test-fast test-unit test-validation lint typecheck bench fuzz clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e ".[test,cohort,service]"
	# pyradiomics 3.0.1 (texture features) only builds without build isolation, against the numpy pinned here.
	$(PY) -m pip install --quiet -c requirements.lock "numpy<2.4" setuptools wheel versioneer
	$(PY) -m pip install --quiet -c requirements.lock --no-build-isolation pyradiomics==3.0.1
	# numba compiles the fitting kernels once here (on-disk cache), not during the first case (~10 CPU-s).
	$(PY) -m pseudoprog.compiled
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pseudoprog demo --out demo-output --scenario pseudoprogression --format dicom
	@echo "Open demo-output/output-pseudoprogression/report.html (and report.pdf; DICOM SEG/Parametric Map/SR under dicom/)"

# The reading-room front end: NiiVue from npm, bundled once into web/dist (served by `pseudoprog serve`, no CDN).
web/dist/app.js: web/package.json web/package-lock.json web/src/app.js web/src/style.css web/build.mjs
	@if command -v npm >/dev/null 2>&1; then cd web && npm ci --no-audit --no-fund && npm run build; \
	else echo "npm not found: the reading-room page is not built (its browser test skips; CI installs npm)"; fi

web: web/dist/app.js

# Try-out: Orthanc and the service on loopback with the synthetic patient (see README "Reading room").
reading-room: $(STAMP) web/dist/app.js
	$(PY) -m pseudoprog.service.tryout --data reading-room-data

test: $(STAMP) web/dist/app.js
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -n $(JOBS) -q

# The fast tier: everything except the end-to-end runs of a whole `assess` or demo (marker e2e).
test-fast: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q -m "not e2e"

test-unit: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q -m "not validation"

test-validation: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q -m validation

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy

# The long fuzz run of the parsers (tests/hardening/test_fuzz.py; `make test` runs it seeded and short).
# Random inputs, FUZZ_EXAMPLES per target; the tallies (inputs, clean errors, crashes, hangs) go to fuzz-report.json.
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP)
	PSEUDOPROG_FUZZ_RANDOM=1 PSEUDOPROG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PSEUDOPROG_FUZZ_REPORT=fuzz-report.json \
		$(PY) -m pytest -q tests/hardening/test_fuzz.py
	@cat fuzz-report.json

bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) demo-output reading-room-data web/dist web/node_modules fuzz-report.json .pytest_cache .mypy_cache .ruff_cache
