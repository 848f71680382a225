# The team's vocabulary. Every target sets up what it needs (the .venv) on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt shared/requirements.txt | cksum | cut -d' ' -f1)
SAM_VENV := .venv-sam
LAMBDA_PYTHON ?= python3.13
export SAM_CLI_TELEMETRY := 0
# Where `make run` serves the API and the site kit; demo, token and invoke talk to that API.
PORT ?= 3000
SITE_PORT ?= 8080
API := http://127.0.0.1:$(PORT)

.PHONY: venv browser-tools run token demo test lint format openapi openapi-check invoke fixtures sam-tools validate build deploy deploy-prod publish-site clean
.PHONY: bench-coldstart bench-imports bench-cost bench-availability bench-readme
.PHONY: bench-reminders
.PHONY: bench bench-races fuzz chaos

$(STAMP): requirements-dev.txt shared/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## create/refresh the project virtualenv

# The browser tests drive Debian's chromium through its chromium-driver and inject axe-core from npm.
browser-tools:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing Debian's chromium and chromium-driver for the browser tests"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver' >/dev/null; }
	@test -f node_modules/axe-core/axe.min.js || npm ci --no-audit --no-fund --silent

run: venv  ## the API on 127.0.0.1:$(PORT) and the site kit on localhost:$(SITE_PORT), moto + Stripe/Cal.com doubles
	$(BIN)/python -m local serve --port $(PORT) --site-port $(SITE_PORT)

token: venv  ## print a dev access token the local runner accepts: make token [ROLE=owner|staff|none] [EMAIL=ana@example.com]
	@$(BIN)/python -m local.dev_auth --role $(or $(ROLE),owner) $(if $(EMAIL),--email $(EMAIL))

demo: venv  ## walk the whole booking flow against the running local API (or an embedded one)
	$(BIN)/python -m local demo --api $(API) $(ARGS)

.PHONY: clock
clock: venv  ## move the running runner's clock forward, then run the scheduled functions once: make clock BY=24h
	$(BIN)/python -m local clock --api $(API) $(or $(BY),1h)

test: venv browser-tools lint openapi-check  ## everything CI runs: template lint, ruff, OpenAPI freshness, the tests (browser ones included)
	@# Two pytest processes side by side (CI has 2 cores, each about 5 minutes): the tests that drive spawned
	@# runners (browser, local: mostly waiting on them and on Chromium), and the rest. The first's output follows.
	@mkdir -p test-artifacts
	@$(BIN)/python -m pytest tests/browser tests/local > test-artifacts/pytest-runners.log 2>&1 & runners=$$!; \
	$(BIN)/python -m pytest --ignore=tests/browser --ignore=tests/local; rest=$$?; \
	wait $$runners; spawned=$$?; \
	echo "--- tests/browser and tests/local:"; cat test-artifacts/pytest-runners.log; \
	exit $$(( rest || spawned ))

lint: venv
	$(BIN)/cfn-lint template.yaml
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: venv  ## regenerate openapi.json from the handlers
	$(BIN)/python -m local openapi --write openapi.json

openapi-check: venv  ## fail when openapi.json is not what the code generates
	$(BIN)/python -m local openapi --check openapi.json

invoke: venv  ## run one function inside the running local runner: make invoke FN=StripeWebhookFunction EVENT=file.json
	$(BIN)/python -m local invoke --api $(API) $(FN) $(EVENT)

fixtures: venv  ## regenerate the example events in functions/*/events/ from real runs on the doubles
	$(BIN)/python -m local fixtures

sam-tools:  ## aws-sam-cli in its own venv (it pins boto3/pydantic; never in the project venv)
	@test -x $(SAM_VENV)/bin/sam || ($(PYTHON) -m venv $(SAM_VENV) && $(SAM_VENV)/bin/pip install --quiet aws-sam-cli)

validate: sam-tools
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM_VENV)/bin/sam validate --lint

build: sam-tools  ## needs python3.13 on PATH (e.g. PYENV_VERSION=3.11.7:3.13.0) and the package registry
	$(SAM_VENV)/bin/sam build
	@# sam build ships no bytecode and Lambda's /var/task and /opt are read-only: without this, every cold start
	@# compiles every module it imports (about half of it; make bench-coldstart). Hash-based .pyc files, because
	@# SAM zips every file with the same 1980 timestamp, which timestamp-checked .pyc files never match.
	$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

deploy: build
	$(SAM_VENV)/bin/sam deploy --guided

deploy-prod: build
	$(SAM_VENV)/bin/sam deploy --config-env prod

publish-site: venv  ## upload site/ (+ site-config.json) to a stack deployed with HostSiteKit=true: make publish-site STACK=name
	$(BIN)/python -m local publish-site --stack $(STACK)

bench-coldstart: venv  ## cold start of every function (Python 3.13, make build's bytecode, TLS), before/after interleaved, beside import boto3; sizes
	LAMBDA_PYTHON=$(LAMBDA_PYTHON) $(BIN)/python -m bench.cold_start $(ARGS)

bench-imports: venv  ## marginal import costs, before and after: each import alone on top of botocore, pydantic and requests
	LAMBDA_PYTHON=$(LAMBDA_PYTHON) $(BIN)/python -m bench.cold_start --imports $(ARGS)

bench-cost: venv  ## DynamoDB requests and units per booking before/after (targets), item sizes, AWS cost per 1,000 bookings
	$(BIN)/python -m bench.cost $(ARGS)

bench-reminders: venv  ## reminders by the 5-minute sweep or by EventBridge Scheduler one-time schedules: measured, priced
	$(BIN)/python -m bench.reminders $(ARGS)

bench-races: venv  ## N clients race for M slots on a fresh local runner: bookings, double bookings (exit 1 if any), 409s, latency
	$(BIN)/python -m bench.races $(ARGS)

bench-availability: venv  ## 50 GET /availability a second for a minute, Cal.com double at its real 120/min: 503s, Cal.com calls, p95
	$(BIN)/python -m bench.availability $(ARGS)

bench-readme: venv  ## write the tables of the last benchmark runs (bench/results/) into README.md's Performance section
	$(BIN)/python -m bench.readme

# Cost reads the cold-start figures (its "all cold" rows), so it runs after them; the README is written last.
bench: venv  ## every benchmark, one after the other (each prints its tables, targets beside the figures), then the README's tables
	$(MAKE) bench-coldstart bench-imports bench-cost bench-reminders bench-races
	$(MAKE) bench-availability ARGS=--before
	$(MAKE) bench-readme

fuzz: venv  ## the fuzz tests alone (schemathesis + hypothesis against a local runner); deeper: make fuzz FUZZ_EXAMPLES=300
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz $(ARGS)

chaos: venv  ## the chaos test alone, 250 seeded scenarios, with its figures; CHAOS_SCENARIOS=n, one seed and its trace: CHAOS_SEED=s
	CHAOS_SCENARIOS=$(or $(CHAOS_SCENARIOS),250) CHAOS_SEED=$(CHAOS_SEED) CHAOS_BASE_SEED=$(CHAOS_BASE_SEED) \
		CHAOS_TRACE=$(CHAOS_TRACE) $(BIN)/python -m pytest tests/chaos -q -p no:cacheprovider $(ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .ruff_cache .hypothesis
