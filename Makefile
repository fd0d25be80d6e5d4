# Two commands do everything on a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# No downloads from the HuggingFace Hub, no telemetry, ever.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PYTHONUNBUFFERED := 1

.PHONY: install system-deps demo test test-catalog bench server ha-up ha-down ha-status lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(STAMP)

# Debian packages the tests drive for real: headless Chromium (report and Prefect UI pages),
# Prometheus (scrapes `skillsets metrics serve`) and Tesseract (the OCR that document models'
# processors run), and the high-availability stack's PostgreSQL, Redis and HAProxy (`make ha-up`).
# Installed only when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-pushgateway >/dev/null || missing="$$missing prometheus-pushgateway"; \
	command -v tesseract >/dev/null || missing="$$missing tesseract-ocr"; \
	{ command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v haproxy >/dev/null || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: $(STAMP) system-deps
	$(BIN)/skillsets demo

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

test-catalog: $(STAMP)
	$(BIN)/python -m pytest -m catalog -q

# A local Prefect server with the work pool, every deployment and a worker (see README).
server: $(STAMP)
	scripts/server.sh

# Prefect in high availability behind an authenticating proxy on 127.0.0.1:4200: PostgreSQL,
# Redis, two API replicas, the services, HAProxy, a worker, every deployment (README, "Production
# set-up"). State, PIDs, logs and generated passwords under data/ha/. `ha-down` stops only what
# `ha-up` started.
ha-up: $(STAMP) system-deps
	$(BIN)/python -m scripts.ha.stack up

ha-down:
	$(BIN)/python -m scripts.ha.stack down

ha-status:
	$(BIN)/python -m scripts.ha.stack status

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data .prefect skillsets/generated
