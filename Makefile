# The two commands a fresh machine needs: `make demo` and `make test`. Everything else is
# below them. All targets run inside .venv, which the first target that needs it creates.
PY      ?= python3
VENV    := .venv
PYBIN   := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: venv models test demo enqueue forget worker flower beat metrics eval bench chaos prepare clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(PYBIN) -m pip install -q --upgrade pip
	$(PYBIN) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# The geometric chain's weights (BlazePose etc. from the mediapipe wheel) always; the seed's
# four files where the internet allows (their absence is reported, not fatal).
models: venv
	$(PYBIN) -m models.weights.fetch

# The layering (.importlinter: tools above the batch system above the chain) before the suite.
test: venv models
	$(VENV)/bin/lint-imports
	$(PYBIN) -m pytest -q tests

# Timing on this machine's CPU: table on stdout, figures in bench.json (BENCH_ARGS=--quick for a smoke run).
# Metrics (pose PCK, parse IoUs, paired warp IoU / SSIM) and OUT/contact_sheet.png on a
# dataset in the layout of shared/data/tryon (research licence: never copied into the repo).
# EVAL_ARGS="--categories lower,dress --cross-only" re-runs only those categories' cross products.
DATA ?= ../shared/data/tryon
OUT  ?= eval-out
eval: venv models
	$(PYBIN) -m tools.evaluate $(DATA) $(OUT) $(EVAL_ARGS)

# Inputs for research try-on models (CP-VTON, VITON-HD, HR-VITON dataset layouts; README):
# make prepare SRC=../shared/data/tryon OUT=prepared LAYOUT=viton-hd   a folder (SRC/persons, SRC/garments)
# make prepare BUCKET=tryon LAYOUT=hr-viton                            the bucket, through the workers
# FRAMING=person (default: each person in its upper-garment working crop, any photo) or
# FRAMING=centre (the sample's 4:3 centre crop: photos already framed like the datasets)
LAYOUT ?= viton-hd
FRAMING ?= person
prepare: venv models
	@if [ -z "$(BUCKET)" ] && { [ -z "$(SRC)" ] || [ "$(origin OUT)" != "command line" ]; }; then \
	  echo "prepare: give SRC=<folder> OUT=<folder> (or BUCKET=<bucket>) and LAYOUT=cp-vton|viton-hd|hr-viton [FRAMING=person|centre]" >&2; exit 2; fi
	$(PYBIN) -m tools.prepare $(if $(BUCKET),--bucket $(BUCKET) --wait,$(SRC) $(OUT)) --layout $(LAYOUT) --framing $(FRAMING) $(PREPARE_ARGS)

bench: venv models
	$(PYBIN) -m bench $(BENCH_ARGS)

# --- batch system: settings from the environment (README: configuration table) -----------
# make enqueue BUCKET=tryon [CUSTOMERS=customers/] [CATALOGUE=catalogue/] [FORCE=1] [WAIT=1] [DRY_RUN=1]
CONCURRENCY ?= 2
enqueue: venv
	$(PYBIN) -m producer $(if $(BUCKET),--bucket $(BUCKET)) $(if $(CUSTOMERS),--customers $(CUSTOMERS)) \
	  $(if $(CATALOGUE),--catalogue $(CATALOGUE)) $(if $(FORCE),--force) $(if $(WAIT),--wait) $(if $(DRY_RUN),--dry-run)

# make forget BUCKET=tryon CUSTOMER="customers/alice.jpg [customers/bob.jpg ...]" [DRY_RUN=1]
# Removes every copy the renderer made of those customers (README: "Personal data").
forget: venv
	$(PYBIN) -m producer forget $(if $(BUCKET),--bucket $(BUCKET)) $(if $(DRY_RUN),--dry-run) $(CUSTOMER)

worker: venv models
	$(PYBIN) -m celery -A worker.celery_app worker -Q $${TRYON_QUEUE:-tryon} --concurrency=$(CONCURRENCY) --loglevel=INFO

# make flower FLOWER_BASIC_AUTH=user:password      (listens on FLOWER_ADDRESS, default 0.0.0.0)
# make flower FLOWER_UNAUTHENTICATED_API=true      (open, asked for explicitly: 127.0.0.1 only)
flower: venv
	@if [ -n "$$FLOWER_BASIC_AUTH" ]; then ADDR=$${FLOWER_ADDRESS:-0.0.0.0}; \
	elif [ "$$FLOWER_UNAUTHENTICATED_API" = "true" ]; then ADDR=127.0.0.1; \
	  echo "flower: FLOWER_UNAUTHENTICATED_API=true: no authentication, bound to 127.0.0.1"; \
	else echo "flower: set FLOWER_BASIC_AUTH=user:password (or FLOWER_UNAUTHENTICATED_API=true for an open Flower on 127.0.0.1)" >&2; \
	  exit 2; fi; \
	  exec $(PYBIN) -m celery -A worker.celery_app flower --address=$$ADDR --port=$${FLOWER_PORT:-5555}

# One beat per deployment (the nightly run at TRYON_NIGHTLY_AT, UTC; the lost-chunk sweep every minute).
beat: venv
	$(PYBIN) -m celery -A worker.celery_app beat --loglevel=INFO --schedule=$${TRYON_BEAT_SCHEDULE:-$${TMPDIR:-/tmp}/tryon-celerybeat-schedule}

# Prometheus figures of the runs (pairs rendered/failed/to review, seconds per stage, queue depth,
# runs active) read from Redis: http://$(METRICS_ADDRESS):$(METRICS_PORT)/metrics. Flower's /metrics
# has the task-level figures.
METRICS_ADDRESS ?= 127.0.0.1
METRICS_PORT ?= 9808
metrics: venv
	$(PYBIN) -m worker.metrics --address $(METRICS_ADDRESS) --port $(METRICS_PORT)

# Embedded demo: SeaweedFS + Redis + a worker on free local ports, a real run, ./demo-out/.
demo: venv models
	$(PYBIN) scripts/demo.py

# Reliability scenarios (real servers, real workers; geometric chain): writes chaos.json, prints
# the table. CHAOS_ARGS="--customers 10 --garments 20 --only clean,worker_killed" to narrow it.
chaos: venv models
	TRYON_CHAIN=geometric $(PYBIN) -m chaos.run $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) demo-out eval-out bench.json bench-out chaos.json
