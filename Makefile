# redub: make help lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS      := $(CURDIR)/.tools
GOARCH     ?= arm64
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS    := -s -w -buildid= -X github.com/redub/redub/shared/lambdarun.version=$(VERSION) -X github.com/redub/redub/shared/lambdarun.commit=$(COMMIT)
GOBUILD    := CGO_ENABLED=0 GOOS=linux go build -tags lambda.norpc -trimpath -ldflags='$(LDFLAGS)'
FUNCTIONS  := $(notdir $(patsubst %/,%,$(wildcard functions/*/)))
DEB_TEST   := postgresql pgbouncer ffmpeg espeak-ng pocketsphinx pocketsphinx-en-us patchelf zip gcc shellcheck chromium

GOLANGCI_LINT_VERSION := v2.15.0
GOVULNCHECK_VERSION   := v1.9.0
RIE_VERSION           := v0.0.0-20261030222936-bef5c4ba774d
VERSITYGW_VERSION     := v1.8.0
LOCAL_AWS_SQS_VERSION := 2.0.2
DEB_DEV    := postgresql pgbouncer ffmpeg espeak-ng pocketsphinx pocketsphinx-en-us

# kebab-case folder -> LogicalId: health-ready -> HealthReadyFunction
logical_id = $(shell echo '$(1)' | sed -E 's/(^|-)([a-z0-9])/\U\2/g')Function
# LogicalId stem -> folder: HealthReady -> health-ready
folder_of  = $(shell echo '$(1)' | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr '[:upper:]' '[:lower:]')

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_%-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: dev
dev: deps-dev tools web ## run the whole product locally: the app and the API on http://localhost:3000
	@go build -o bin/redub ./cmd/redub
	@./bin/redub dev $(ARGS)

.PHONY: demo
demo: deps-dev tools ## run the voiceover recipe offline (starts the stack if needed) and check the outputs
	@go build -o bin/redub ./cmd/redub
	@./bin/redub demo

.PHONY: deps-dev
deps-dev: ## install the Debian packages `make dev` needs (as root; otherwise prints the apt command)
	@bash scripts/deps.sh $(DEB_DEV)

.PHONY: test
test: deps tools web web-test ## run every test (starts a throwaway Postgres + PgBouncer when DATABASE_URL is unset)
	go run ./cmd/redub db run -- go test -count=1 -timeout 30m ./...

.PHONY: bench
bench: deps tools ## run the benchmarks (the figures in docs/benchmarks.md come from here)
	go run ./cmd/redub db run -- sh -c "\
		go test -count=1 -run '^$$' -bench . -benchtime 2000x ./shared/api ./shared/ratelimit && \
		go test -count=1 -run '^$$' -bench 'WarmInvoke' -benchtime 500x ./local/stack && \
		go test -count=1 -run '^$$' -bench 'ColdStart' -benchtime 10x ./local/stack ./local/lambda && \
		go test -count=1 -run '^$$' -bench . -benchtime 50x ./local/sqs && \
		go test -count=1 -run '^$$' -bench 'Transcode' -benchtime 3x ./shared/media && \
		go test -count=1 -timeout 30m -run '^$$' -bench 'FanOut' -benchtime 1x ./shared/media && \
		go test -count=1 -run '^$$' -bench Pipeline -benchtime 3x ./e2e && \
		go test -count=1 -run '^$$' -bench 'SlotAware|Rerender' -benchtime 1x ./e2e && \
		go test -count=1 -run '^$$' -bench Recovery -benchtime 5x -timeout 60m ./e2e && \
		go test -count=1 -run '^$$' -bench FairShare -benchtime 3x -timeout 60m ./e2e"

.PHONY: deps
deps: ## install the Debian packages the tests need (as root; otherwise prints the apt command)
	@bash scripts/deps.sh $(DEB_TEST)

.PHONY: build
build: ## build every function for Lambda into dist/<LogicalId>/bootstrap
	@for f in $(FUNCTIONS); do \
		id=$$(echo "$$f" | sed -E 's/(^|-)([a-z0-9])/\U\2/g')Function; \
		$(MAKE) --no-print-directory build-$$id ARTIFACTS_DIR=dist/$$id || exit 1; \
	done

# Media functions run on x86_64, the FFmpeg layer's architecture; the rest on arm64.
# The template says the same (Architectures); a template check keeps the two in step.
X86_FUNCTIONS := Ingest Transcode Transcribe Translate Synthesize Mix Backup
arch_of = $(if $(filter $(1),$(X86_FUNCTIONS)),amd64,$(GOARCH))

# SAM (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-%Function: ## build one function, e.g. make build-HealthFunction ARTIFACTS_DIR=dist/HealthFunction
	@test -d functions/$(call folder_of,$*) || { echo "no folder functions/$(call folder_of,$*) for $*Function" >&2; exit 1; }
	@mkdir -p $(ARTIFACTS_DIR)
	GOARCH=$(call arch_of,$*) $(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(call folder_of,$*)

.PHONY: size
size: build ## print each function's zipped size; fails over the 5.25 MiB budget
	go run ./cmd/redub size --max-mib 5.25 dist

.PHONY: lint
lint: tools lint-template ## gofmt, go vet, golangci-lint, actionlint (which runs shellcheck on run: blocks when it is on PATH) and cfn-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(TOOLS)/golangci-lint run ./...
	@command -v shellcheck >/dev/null || echo "lint: shellcheck is not on PATH: actionlint skips the run: blocks (apt-get install shellcheck)"
	$(TOOLS)/actionlint
	$(MAKE) --no-print-directory web-lint

# --- the web app (web/): see web/README.md ---------------------------------

.PHONY: web-deps
web-deps: ## npm ci in web/ when its lockfile changed
	@test web/node_modules/.package-lock.json -nt web/package-lock.json || (cd web && npm ci --no-audit --no-fund --loglevel=error)

.PHONY: web
web: web-deps ## build the landing page and the console into web/dist and check the bundle budgets
	@cd web && npm run --silent build -- --logLevel warn && npm run --silent size

.PHONY: web-lint
web-lint: web-deps ## Biome, tsc --noEmit and the check that the generated API client matches docs/openapi.yaml
	cd web && npm run --silent lint

.PHONY: web-audit
web-audit: web-deps ## npm audit of the web app's production dependencies (high and critical fail)
	cd web && node scripts/audit.mjs

.PHONY: web-test
web-test: web-deps ## the web app's unit tests (Vitest); the browser tests run in ./e2e (TestWeb)
	cd web && npm test --silent

CFN_LINT_PIP := pip install 'cfn-lint==1.51.0' 'aws-sam-translator==1.110.0'

# cfn-lint on template.yaml and on what the SAM transform makes of it (scripts/sam-transform.py), warnings as
# errors; the only exceptions are the commented `Metadata: cfn-lint` entries in the template.
.PHONY: lint-template
lint-template: ## cfn-lint on template.yaml and on the SAM-transformed template (warnings fail; prints the pip line if missing)
	@if ! command -v cfn-lint >/dev/null || ! python3 -c 'import samtranslator' 2>/dev/null; then \
		echo "lint: cfn-lint is missing, the template is not linted: $(CFN_LINT_PIP)"; exit 0; fi; \
	set -e; out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	echo "cfn-lint template.yaml deploy/bootstrap.yaml"; cfn-lint --non-zero-exit-code warning template.yaml deploy/bootstrap.yaml; \
	python3 scripts/sam-transform.py template.yaml > "$$out/template.transformed.json"; \
	echo "cfn-lint (SAM-transformed template.yaml)"; cfn-lint --non-zero-exit-code warning "$$out/template.transformed.json"

.PHONY: vuln
vuln: tools ## govulncheck (skipped, with a message, when its database cannot be reached)
	@if $(TOOLS)/govulncheck -version >/dev/null 2>&1 && curl -fsS -m 10 -o /dev/null https://vuln.go.dev/index/db.json 2>/dev/null; then \
		$(TOOLS)/govulncheck ./...; \
	else \
		echo "vuln: SKIPPED: the Go vulnerability database (vuln.go.dev) cannot be reached from this machine"; \
	fi

.PHONY: tools
tools: ACTIONLINT_VERSION := v1.7.12
tools: ## install the pinned tools into ./.tools: linters, aws-lambda-rie, versitygw, local-aws-sqs (skips what is there)
	@mkdir -p $(TOOLS)
	@test -x $(TOOLS)/aws-lambda-rie || { echo "tools: installing aws-lambda-rie"; GOBIN=$(TOOLS) go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION); }
	@test -x $(TOOLS)/versitygw || { echo "tools: installing versitygw $(VERSITYGW_VERSION) (about a minute, once)"; GOBIN=$(TOOLS) go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION); }
	@test -f $(TOOLS)/node_modules/local-aws-sqs/package.json && grep -q '"version": "$(LOCAL_AWS_SQS_VERSION)"' $(TOOLS)/node_modules/local-aws-sqs/package.json || \
		{ echo "tools: installing local-aws-sqs@$(LOCAL_AWS_SQS_VERSION)"; npm install --silent --no-audit --no-fund --prefix $(TOOLS) local-aws-sqs@$(LOCAL_AWS_SQS_VERSION); }
	@test -x $(TOOLS)/golangci-lint && $(TOOLS)/golangci-lint version 2>/dev/null | grep -q "$(GOLANGCI_LINT_VERSION:v%=%)" || \
		GOBIN=$(TOOLS) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	@test -x $(TOOLS)/govulncheck || GOBIN=$(TOOLS) go install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@test -x $(TOOLS)/actionlint && $(TOOLS)/actionlint -version 2>/dev/null | head -n 1 | grep -qx '$(ACTIONLINT_VERSION)' || \
		GOBIN=$(TOOLS) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

.PHONY: migrate
migrate: ## apply migrations to DATABASE_URL_UNPOOLED (environment or .env.local)
	go run ./cmd/redub migrate up

.PHONY: migrate-check
migrate-check: deps ## apply migrations to an empty database, compare with migrations/schema.sql, round-trip down and up
	go run ./cmd/redub db run -- go run ./cmd/redub migrate check

.PHONY: migrate-snapshot
migrate-snapshot: deps ## rewrite migrations/schema.sql from the migrations
	go run ./cmd/redub db run -- go run ./cmd/redub migrate snapshot

.PHONY: clean
clean: ## remove build output (keeps .dev data and .tools)
	rm -rf dist .aws-sam

# Layers (SAM BuildMethod: makefile) from Debian's packages, for this machine's architecture: see layers/README.md.
# LAYER_PREFIX (default /opt, where Lambda mounts layers) is where the programs look for their loader and libraries.
.PHONY: build-FFmpegLayer
build-FFmpegLayer: ## build the FFmpeg layer, e.g. make build-FFmpegLayer ARTIFACTS_DIR=dist/FFmpegLayer
	ARTIFACTS_DIR='$(ARTIFACTS_DIR)' PREFIX='$(or $(LAYER_PREFIX),/opt)' bash layers/ffmpeg/build.sh

.PHONY: build-PgToolsLayer
build-PgToolsLayer: ## build the pg_dump/pg_restore/psql layer (PG_MAJOR, default 17), e.g. ARTIFACTS_DIR=dist/PgToolsLayer
	ARTIFACTS_DIR='$(ARTIFACTS_DIR)' PREFIX='$(or $(LAYER_PREFIX),/opt)' PG_MAJOR='$(or $(PG_MAJOR),17)' bash layers/pgtools/build.sh
