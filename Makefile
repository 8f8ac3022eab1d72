# The two commands: `make run` (demo monitor on http://localhost:8080/status) and `make test`.
# Each sets up everything it needs on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench image-test postgres chromium checkov clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# PostgreSQL 15 for the database tests: from PATH, else Debian's package (binaries under
# /usr/lib/postgresql/*/bin, which the test fixture also searches).
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "initdb not found: installing Debian's postgresql package"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# Chromium for the browser tests of the status pages (driven by Playwright with executable_path;
# Playwright's own browser download is never used).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "/usr/bin/chromium not found: installing Debian's chromium package"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# checkov pins many packages of its own, so it gets its own virtualenv (used by tests/terraform).
checkov: .venv-checkov/bin/checkov
.venv-checkov/bin/checkov:
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --disable-pip-version-check 'checkov>=3.2,<4'

lint: install
	$(PY) -m ruff check monitor probes tests bench examples
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test: install postgres chromium checkov lint
	$(PY) -m pytest -q

run: install
	$(VENV)/bin/synthmon demo

bench: install postgres
	$(PY) bench/run.py

# By hand, as root: build the Dockerfile with podman and run the image against the demo target.
image-test: install
	$(PY) tests/image/build_and_run.py

clean:
	rm -rf $(VENV) .venv-checkov .synthmon .pytest_cache build dist *.egg-info
