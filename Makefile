# gptu: `make run` installs and starts everything; `make test` installs and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK_HASH := $(shell cat requirements.lock requirements-nodeps.txt pyproject.toml vendor/en_core_web_sm/pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)
export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install system run services test test-fast lint format bench lock clean

install: $(STAMP) system

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q --no-deps ./vendor/en_core_web_sm
	$(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

system:
	@scripts/system-deps.sh

run: install
	@mkdir -p data
	@echo "gptu: starting Redis, Chroma, a worker and the API; open http://127.0.0.1:8000"
	$(BIN)/honcho start

services: install
	$(BIN)/honcho start redis chroma

test: install
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: install
	$(BIN)/pytest -q -p no:cacheprovider -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy api core ingest worker

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/ingest.py

# Re-resolve every dependency together (celery and chromadb must agree) and pin the result.
lock:
	rm -rf /tmp/gptu-lock && $(PYTHON) -m venv /tmp/gptu-lock
	/tmp/gptu-lock/bin/pip install -q --upgrade pip
	/tmp/gptu-lock/bin/pip install -q -r requirements.in
	/tmp/gptu-lock/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) data
