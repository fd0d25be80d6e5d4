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

.PHONY: install system-deps demo test test-catalog bench server lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(STAMP)

# Debian packages the tests drive for real: headless Chromium (report and Prefect UI pages),
# Prometheus (scrapes `skillsets metrics serve`) and Tesseract (the OCR that document models'
# processors run). Installed only when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-pushgateway >/dev/null || missing="$$missing prometheus-pushgateway"; \
	command -v tesseract >/dev/null || missing="$$missing tesseract-ocr"; \
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

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data .prefect skillsets/generated
