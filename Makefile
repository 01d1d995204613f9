# flowwatch — the two commands a newcomer needs are `make run` and `make test`.
GO       ?= go
BIN      ?= bin/flowwatch
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/flowwatch/flowwatch/internal/cli.Version=$(VERSION)
FUZZTIME ?= 5000x

.PHONY: run build test vet unit fuzz bench bench-ingest bench-search bench-pages bench-soak bench-backends bench-gateway screenshots release-check release-snapshot clean

## run: build and start flowwatch on the embedded default (SQLite in ./flowwatch-data);
## CONFIG=flowwatch.yaml starts it with that config file
CONFIG ?=
run: build
	./$(BIN) serve $(if $(CONFIG),--config '$(CONFIG)')

## build: build the binary into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/flowwatch

## test: everything CI runs — formatting, vet, then a short fuzz pass and the race-enabled test
## suite side by side (the suite waits on servers and browsers much of the time: together they
## take little longer than the suite alone)
test: vet
	@$(MAKE) --no-print-directory -j2 --output-sync=line fuzz unit

vet:
	@unformatted=$$(gofmt -l cmd internal); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	scripts/with-postgres.sh $(GO) test -race -timeout 20m ./...

## fuzz: run every fuzz target for FUZZTIME inputs each (default 5000x)
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## bench: Go micro-benchmarks (normalization, store writes)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/normalize/ ./internal/store/sqlite/

## bench-ingest: OTLP/HTTP load from a separate process against a freshly started server
bench-ingest: build
	./$(BIN) bench ingest

## bench-search: load a store with 10 million spans over 30 days into BENCH_DATA and time every trace search (SPANS=200000 for a quick run)
SPANS ?= 10000000
BENCH_DATA ?= bench-data
bench-search: build
	./$(BIN) bench search --spans $(SPANS) --data $(BENCH_DATA)

## bench-pages: time every dashboard page over the store bench-search keeps in BENCH_DATA (run bench-search first)
bench-pages: build
	./$(BIN) bench pages --data $(BENCH_DATA)

## bench-backends: SQLite and PostgreSQL side by side: ingest (1 and 3 replicas) and queries at SPANS spans; POSTGRES=DSN uses yours and keeps the stores in BENCH_BACKENDS_DATA (else a throwaway server)
BENCH_BACKENDS_DATA ?= bench-backends-data
bench-backends: build
	./$(BIN) bench backends --spans $(SPANS) $(if $(POSTGRES),--postgres '$(POSTGRES)' --data $(BENCH_BACKENDS_DATA))

## bench-gateway: the latency the recording gateway adds at RATE requests/s (default 500), direct and through the gateway side by side, and every call recorded
RATE ?= 500
bench-gateway: build
	./$(BIN) bench gateway --rate $(RATE)

## bench-soak: ingest for 4 retention periods of simulated time and show the data directory level off
bench-soak: build
	./$(BIN) bench soak

## screenshots: take the README's dashboard pictures from the real UI running flowwatch demo (needs chromium)
screenshots:
	$(GO) run ./scripts/screenshots -out docs/screenshots

## release-check: goreleaser's own check of .goreleaser.yaml (goreleaser runs from its module, not go.mod)
GORELEASER ?= $(GO) run github.com/goreleaser/goreleaser/v2@v2.17.0
release-check:
	$(GORELEASER) check

## release-snapshot: every release archive and checksums.txt into dist/, without a tag or publishing
release-snapshot:
	$(GORELEASER) release --snapshot --clean

clean:
	rm -rf bin dist
