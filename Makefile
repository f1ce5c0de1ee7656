# wangge: `make run` serves the demo; `make test` runs the whole suite. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
VENDOR := server/web/static/vendor
NPM_STAMP := node_modules/.installed-$(shell cksum package-lock.json | cut -d' ' -f1)

.PHONY: run test setup os-deps python-deps vendor lint bench db-start db-stop clean

run: setup
	$(BIN)/wangge serve --demo

test: setup
	scripts/install-os-deps.sh postgis chromium gdal
	$(BIN)/pytest

setup: os-deps python-deps vendor

os-deps:
	scripts/install-os-deps.sh postgis

python-deps: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# Front-end libraries come from npm and are served by the app itself (no CDN). scripts/vendor.sh is the one
# list of vendored files; the Dockerfile runs the same `npm run vendor`.
vendor: $(NPM_STAMP)
	npm run --silent vendor
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: python-deps
	$(BIN)/ruff check gis server tests benchmarks data/boundaries

bench: setup
	$(BIN)/python benchmarks/run_all.py

db-start: setup
	$(BIN)/wangge db start
db-stop:
	$(BIN)/wangge db stop

clean:
	-$(BIN)/wangge db stop
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache test-artifacts
