# Every target sets up what it needs first (scripts/bootstrap.sh), so each works on a fresh machine.
SHELL := /bin/bash
export OMP_WAIT_POLICY := PASSIVE
export UV_PYTHON_DOWNLOADS := never
export UV_SYSTEM_CERTS := 1
SYSTEM_CA := /etc/ssl/certs/ca-certificates.crt
ifneq ($(wildcard $(SYSTEM_CA)),)
export SSL_CERT_FILE ?= $(SYSTEM_CA)
export NODE_EXTRA_CA_CERTS ?= $(SYSTEM_CA)
endif
VENV := .venv/bin
TRACE := data/traces/nab/cpu_utilization_asg_misconfiguration.csv

.PHONY: setup replay test lint synth layers bench

setup:
	@scripts/bootstrap.sh

## The main job: replay the bundled real ASG trace through forescale, reactive and oracle policies.
replay: setup
	$(VENV)/forescale replay $(TRACE) --out out/replay

## The test suite (what CI runs).
test: setup
	$(VENV)/ruff check .
	$(VENV)/mypy
	$(VENV)/pytest -q

lint: setup
	$(VENV)/ruff check . && $(VENV)/ruff format --check . && $(VENV)/mypy

synth: setup
	npx cdk synth --no-notices -q

## The Lambda layers as a deploy builds them (cdk synth and deploy build them by themselves), and the size of
## every function against Lambda's limit.
layers: setup
	$(VENV)/python -m layers.build --arch arm64
	$(VENV)/python -m layers.budget --arch arm64

bench: setup
	$(VENV)/python benchmarks/forecast_accuracy.py
	$(VENV)/python benchmarks/forecast_speed.py
	$(VENV)/python benchmarks/replay.py
	$(VENV)/python benchmarks/cold_start.py
