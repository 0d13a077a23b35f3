# Adit — build, run and test.
SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN ?= local
BTCD_VERSION ?= v0.26.2
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):/usr/lib/postgresql/15/bin:$(PATH)

.PHONY: all build run test test-unit test-integration fuzz fuzz-long deps lint clean

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
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz
	$(GO) test -tags integration -count=1 -timeout 12m ./...

test-unit:
	$(GO) test -race -count=1 ./...

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

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin .run
