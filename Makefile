# streamrec — the commands in the README. Everything runs from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA := deploy/kafka/kafka.sh
KAFKA_PORT ?= 9092
export STREAMREC_BOOTSTRAP ?= 127.0.0.1:$(KAFKA_PORT)

.PHONY: help venv kafka kafka-stop kafka-cluster kafka-cluster-stop test test-unit lint typecheck schemas settings-doc clean demo bench-stream bench-items chaos image

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24,<27"
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed  ## create or reuse .venv with the project and its test tools

kafka:  ## start a local single-node Kafka on $(KAFKA_PORT) (fetches the jars once)
	$(KAFKA) start --port $(KAFKA_PORT)

kafka-stop:  ## stop the local Kafka
	$(KAFKA) stop

kafka-cluster:  ## start a local 3-broker Kafka cluster on 19092-19094
	$(KAFKA) cluster-start

kafka-cluster-stop:
	$(KAFKA) cluster-stop

# The demo: a local Kafka (stopped again unless it was already running), generated events,
# a small trained model, its verified bundle, a worker, a live stream. DEMO_ARGS passes flags.
demo: venv  ## end to end: Kafka, events, train, export, worker, live recommendations
	$(KAFKA) fetch
	@set -e; dir=.kafka/single; was=$$($(KAFKA) status --dir $$dir); \
	  $(KAFKA) start --port $(KAFKA_PORT) --dir $$dir; \
	  if [ "$${was%% *}" != running ]; then trap "$(KAFKA) stop --dir $$dir" EXIT; fi; \
	  $(PY) -m streamrec.stream.cli demo $(DEMO_ARGS)

# Stream benchmark through a throwaway broker (BENCH_ARGS: e.g. --generated --json).
bench-stream: venv  ## streamrec bench stream on the Taobao replay
	$(KAFKA) fetch
	@set -e; dir=$$(mktemp -d /tmp/streamrec-kafka.XXXXXX); port=$$($(PY) -c 'from streamrec.stream.tools import ports; print(ports.free_ports(ports.BROKER_OFFSETS))'); \
	  $(KAFKA) start --port $$port --dir $$dir; \
	  trap "$(KAFKA) stop --dir $$dir; rm -rf $$dir" EXIT; \
	  STREAMREC_BOOTSTRAP=127.0.0.1:$$port $(PY) -m streamrec.stream.cli bench stream $(BENCH_ARGS)

# Item-text benchmark: fusion choice, text on/off, cold start (BENCH_ARGS: e.g. --dataset movielens).
bench-items: venv  ## streamrec items benchmark (synthetic catalog by default)
	$(PY) -m streamrec.stream.cli bench items $(BENCH_ARGS)

# Fault harness: its own 3-broker cluster on free ports in a temp dir, workers killed and
# restarted, brokers bounced, then the verifier's table (CHAOS_ARGS: e.g. --kills 5 --bounces 1).
chaos: venv  ## streamrec chaos: kill -9 workers, bounce brokers under load, verify nothing lost
	$(KAFKA) fetch
	$(PY) -m streamrec.stream.cli chaos $(CHAOS_ARGS)

lint: venv  ## ruff
	$(VENV)/bin/ruff check .

# mypy sees the installed names (streamrec.stream, ...) through links to the card's folders.
TYPECHECK_TREE := build/typecheck/streamrec
$(TYPECHECK_TREE):
	@mkdir -p $@
	@for d in stream models export; do ln -sfn ../../../$$d $@/$$d; done

typecheck: venv $(TYPECHECK_TREE)  ## mypy (strict on stream/, models/, export/)
	$(VENV)/bin/mypy

# The records' JSON Schemas are generated from the parser's constants; a unit test fails
# when the committed files differ from what the code generates.
schemas: venv  ## regenerate docs/schemas/*.schema.json from the code
	$(PY) -m streamrec.stream.records.json_schema

# docs/settings.md is rendered from the settings classes; a unit test keeps it in sync.
settings-doc: venv  ## regenerate docs/settings.md from stream/config
	$(PY) -m streamrec.stream.config.reference

# The README's test command: install (Kafka's jars, promtool, podman and the image's
# Debian base), lint, start Kafka, run every tier, stop Kafka.
test: venv $(TYPECHECK_TREE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(KAFKA) fetch
	deploy/prometheus/install-promtool.sh
	deploy/docker/install-podman.sh
	@set -e; dir=$$(mktemp -d /tmp/streamrec-kafka.XXXXXX); port=$$($(PY) -c 'from streamrec.stream.tools import ports; print(ports.free_ports(ports.BROKER_OFFSETS))'); \
	  $(KAFKA) start --port $$port --dir $$dir; \
	  trap "$(KAFKA) stop --dir $$dir; rm -rf $$dir" EXIT; \
	  STREAMREC_BOOTSTRAP=127.0.0.1:$$port $(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv  ## unit tier only (no broker)
	deploy/prometheus/install-promtool.sh
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

# The worker image (IMAGE_ARGS: e.g. --extras train, --base localhost/streamrec-base:bookworm).
BUNDLE ?= model/bundle
image:  ## build the worker image with podman from $(BUNDLE) (deploy/docker/build.sh)
	deploy/docker/build.sh --bundle $(BUNDLE) $(IMAGE_ARGS)

clean:
	rm -rf .kafka build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache

# docs/metrics.md: the tables between its generated markers, from the worker's registry.
.PHONY: metrics-doc
metrics-doc: venv  ## regenerate the metric tables of docs/metrics.md
	$(PY) -m streamrec.stream.tools.metrics_reference
