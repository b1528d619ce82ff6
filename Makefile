# Thin wrappers over Go tooling. `make test` is what CI runs.
GO ?= go
PKGS := ./...

.PHONY: all generate wire test lint bench demo fuzz

all: test

## generate: regenerate every generated file from its schema (needs capnp): gen/,
## golden/requests, golden/feature, internal/testing/rttest and examples/calculator;
## internal/cmd/generate is their one writer, and its test their one staleness check
generate:
	$(GO) generate ./...

## wire: rewrite schemas/testdata/wire, the canonical wire form the schema sets compile to
## (needs capnp); commit it only after TestWireContractUpstream agrees with it
wire:
	$(GO) test ./schemas/ -run '^TestWireContract$$' -update

## lint: gofmt, go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## test: lint, then the whole suite with the race detector (internal/cmd/generate's
## test checks the committed generated files; the fuzz targets run their committed seed
## corpora; `make fuzz` fuzzes)
test: lint
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## bench: benchmarks, written to BENCHMARKS.md
bench:
	$(GO) run ./internal/cmd/benchreport -o BENCHMARKS.md

## demo: the end-to-end demo on the bundled demo node
demo:
	$(GO) run ./cmd/bitcoin-ipc demo

## fuzz: run each fuzz target for a bounded number of new inputs (FUZZN, default 2000;
## the slow generated-server target a tenth of that); seeds are in testdata/fuzz, and
## `go test` (make test) runs them. Counts, not durations: a -fuzztime deadline can end a
## run with a spurious "context deadline exceeded". Not part of make test.
FUZZN ?= 2000
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzGeneratedServers$$' -fuzztime=$$(( $(FUZZN) / 10 ))x ./internal/testing/hostile/
	$(GO) test -run='^$$' -fuzz='^FuzzRawFrames$$' -fuzztime=$(FUZZN)x ./rt/
	$(GO) test -run='^$$' -fuzz='^FuzzRawReplies$$' -fuzztime=$(FUZZN)x ./rt/
	$(GO) test -run='^$$' -fuzz='^FuzzParseAddress$$' -fuzztime=$(FUZZN)x ./process/
	$(GO) test -run='^$$' -fuzz='^FuzzCheckSpawned$$' -fuzztime=$(FUZZN)x ./process/
	$(GO) test -run='^$$' -fuzz='^FuzzDomainRoundTrip$$' -fuzztime=$(FUZZN)x ./domain/
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZN)x ./zmqnotify/
