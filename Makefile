# Adit — build, run and test.
SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN ?= local
BTCD_VERSION ?= v0.26.2
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):/usr/lib/postgresql/15/bin:$(PATH)

.PHONY: all build run test test-unit test-integration test-alerts fuzz fuzz-long deps lint clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

## run: a local regtest stack (btcd, the daemon, a CPU miner) until Ctrl-C.
run: deps build
	deploy/regtest/run.sh

## test: unit tests, integration tests (real btcd, real daemon) and brief fuzzing.
test: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(MAKE) test-alerts
	@mkdir -p .run && rm -f $(VECTOR_SKIPS)
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run NoAlloc $(alloc_pkgs)
	$(MAKE) fuzz
	$(GO) test -tags integration -count=1 -timeout 12m ./...
	@$(vector_summary)

test-unit:
	@mkdir -p .run && rm -f $(VECTOR_SKIPS)
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run NoAlloc $(alloc_pkgs)
	@$(vector_summary)

## test-alerts: the Prometheus config and alert rules checked, and the
## rules' unit tests (deploy/prometheus/adit-alerts_test.yml), by promtool.
## That every metric they name exists is TestDeployQueriesNameExportedMetrics
## (pool/internal/e2e, integration).
PROM_DIR := deploy/prometheus
test-alerts:
	@command -v promtool >/dev/null || { echo "promtool not found: run make deps" >&2; exit 1; }
	promtool check config $(PROM_DIR)/prometheus.yml
	promtool check rules $(PROM_DIR)/adit-alerts.yml
	promtool test rules $(PROM_DIR)/adit-alerts_test.yml

# Golden vectors live outside the repository, in ../shared/vectors. A test
# whose vector is missing fails when CI is set (.ci/run sets it) and
# otherwise skips, appending a line to this file (share/vectortest.ReadVector);
# the summary counts the distinct tests.
VECTOR_SKIPS := .run/vector-skips
test test-unit: export ADIT_VECTOR_SKIP_LOG = $(CURDIR)/$(VECTOR_SKIPS)
define vector_summary
n=$$(sort -u $(VECTOR_SKIPS) 2>/dev/null | grep -c . || true); \
if [ "$$n" = 0 ]; then echo "vector tests: none skipped"; \
elif [ ! -d ../shared/vectors ]; then echo "$$n vector tests skipped: ../shared/vectors not found"; \
else echo "$$n vector tests skipped: not found in ../shared/vectors: $$(cut -f1 $(VECTOR_SKIPS) | sort -u | xargs -n1 basename | xargs)"; fi
endef

# The zero-allocation tests (Test…NoAlloc…) skip under the race detector,
# which the unit pass uses (sync.Pool drops items under it): they run again
# without it.
alloc_pkgs = $(shell grep -rlE --include='*_test.go' '^func Test[A-Za-z0-9_]*NoAlloc' . | xargs -rn1 dirname | sort -u)

test-integration: deps
	$(GO) test -tags integration -count=1 -timeout 12m ./...

# An iteration count, not a duration: with a duration Go's fuzz coordinator
# can report "context deadline exceeded" when a worker is slow to stop.
FUZZTIME ?= 30000x
## fuzz: run every fuzz target briefly.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# A duration per target (or an iteration count such as 1000000x); the script
# copes with the coordinator's end-of-deadline error (see .ci/fuzz-long).
FUZZ_LONG_TIME ?= 5m
## fuzz-long: every fuzz target for FUZZ_LONG_TIME each, one worker
## (FUZZ_PARALLEL); a bounded sample of the corpus found is kept under each
## package's testdata/fuzz (FUZZ_KEEP files of at most FUZZ_KEEP_BYTES).
fuzz-long:
	FUZZ_LONG_TIME=$(FUZZ_LONG_TIME) GO=$(GO) .ci/fuzz-long

## deps: install what the stack and the integration tests need.
deps:
	@command -v btcd >/dev/null || { echo "installing btcd $(BTCD_VERSION)"; $(GO) install github.com/btcsuite/btcd@$(BTCD_VERSION); }
	@test -x /usr/lib/postgresql/15/bin/initdb || { echo "installing postgresql"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null; fi; }
	@command -v promtool >/dev/null || { echo "installing prometheus (for promtool)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; fi; }
	@command -v promtool >/dev/null || { echo "promtool not found after installing Debian's prometheus package" >&2; exit 1; }

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin .run
