# The two commands of the README, and the ones behind them.
# Needs only Python 3.11, make and git: everything else is installed into .venv.

# The Python 3.11 that builds .venv: the operating system's own first (Debian's and Ubuntu's
# /usr/bin/python3.11 are built with profile-guided and link-time optimisation), then the first
# python3.11 or python3 on PATH. pyenv's default build has neither: the service's Python ran
# 20-27 % slower on it here (docs/operations.md#the-interpreter). `make install PYTHON=...`.
PYTHON ?= $(shell for p in /usr/bin/python3.11 "$$(command -v python3.11)" "$$(command -v python3)"; \
	do [ -x "$$p" ] && "$$p" -c 'import ensurepip, venv' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: run test test-sqlite test-backends serve bench lint install migrate clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "Python 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/flask db upgrade

## make run: migrate the embedded SQLite database, seed demo citizens once, serve on
## 127.0.0.1:5000 (another port or address: make run PORT=5001 HOST=0.0.0.0)
run: HOST ?= 127.0.0.1
run: PORT ?= 5000
# The URLs the service tells others follow the port: the bank gateway's callbacks and the
# audience of relying parties' client assertions (unless the environment sets them).
run: export PAYMENT_CALLBACK_BASE_URL ?= http://$(HOST):$(PORT)
run: export OAUTH_TOKEN_URL ?= http://$(HOST):$(PORT)/api/v1/oauth/token
run: migrate
	$(BIN)/flask demo seed
	@echo
	@echo "  VNID is starting on http://$(HOST):$(PORT)"
	@echo "  Citizen's app:  http://$(HOST):$(PORT)/app/"
	@echo "  Police console: http://$(HOST):$(PORT)/police/"
	@echo "  QR verifier:    http://$(HOST):$(PORT)/verify/"
	@echo "  API docs:   http://$(HOST):$(PORT)/docs"
	@echo "  OpenAPI:    http://$(HOST):$(PORT)/api/v1/openapi.json"
	@echo "  Health:     http://$(HOST):$(PORT)/healthz"
	@echo "  Dashboard:  http://$(HOST):$(PORT)/dashboard (token: .venv/bin/flask admins create --name <you>)"
	@echo "  Walkthroughs: README.md 'First walkthrough', then docs/walkthroughs/"
	@echo "  (in a second terminal: export VNID_URL=http://$(HOST):$(PORT))"
	@echo
	$(BIN)/flask run --host $(HOST) --port $(PORT) --no-reload

## make test: lint, then the whole suite on SQLite; when DATABASE_URL/REDIS_URL are set, the
## suite on PostgreSQL and Redis at the same time, on the other core (tools/both_passes.sh)
test: lint
	@if [ -n "$$DATABASE_URL" ] || [ -n "$$REDIS_URL" ]; then bash tools/both_passes.sh; \
	else $(MAKE) --no-print-directory test-sqlite; fi

# The SQLite pass fuzzes lighter (10 requests per operation); the pass on PostgreSQL and
# Redis sends 70 examples per operation and phase, over 10,000 requests (tests/security/test_fuzz.py).
test-sqlite: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL -u JOB_REDIS_URL VNID_FUZZ_EXAMPLES=10 VNID_FUZZ_MIN_REQUESTS=2000 \
	  $(BIN)/python -m pytest

test-backends: $(STAMP)
	@if [ -n "$$DATABASE_URL" ] || [ -n "$$REDIS_URL" ]; then \
	  echo "== the suite on DATABASE_URL / REDIS_URL =="; \
	  $(BIN)/python -m pytest; \
	else echo "DATABASE_URL/REDIS_URL not set: the suite ran on SQLite and the in-process Redis only"; fi

## make test-redis-server: the tests of one Redis server's connections, round trips and network
## link (marked redis_server, tests/redis_kinds.py), on REDIS_URL (redis://); CI runs them after
## the pass on a Redis Cluster, which skips them
test-redis-server: $(STAMP)
	@case "$$REDIS_URL" in redis://*|rediss://*|unix://*) ;; \
	  *) echo "make test-redis-server needs REDIS_URL naming one Redis server"; exit 2;; esac
	$(BIN)/python -m pytest -m redis_server

## make serve: production serving (granian, chosen by make bench); needs the production environment
serve: $(STAMP)
	VNID_CONFIG=production $(BIN)/flask db upgrade
	VNID_CONFIG=production $(BIN)/granian --interface wsgi --host $${HOST:-0.0.0.0} \
	  --port $${PORT:-8000} --workers $${WORKERS:-$$(nproc)} --backlog 2048 wsgi:app

bench: $(STAMP)
	$(BIN)/python -m bench.run $(ARGS)

# examples/ is type-checked apart: the tools reach it through bench/ as a package
# (examples.mobile_client), and mypy reads the folder itself as scripts (mobile_client).
lint: $(STAMP)
	$(BIN)/flake8 app identity utilities tests bench examples tools config.py wsgi.py
	$(BIN)/mypy app identity utilities tools config.py wsgi.py
	$(BIN)/mypy examples

clean:
	rm -rf $(VENV) instance/*.sqlite3* .pytest_cache build *.egg-info
