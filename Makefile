# Cairn: an etcd v3 compatible key-value store.
GO ?= go
BIN := bin

.PHONY: build run test unit e2e fuzz clean

build:
	$(GO) build -o $(BIN)/cairn ./cmd/cairn
	@if [ -d cmd/cairnctl ]; then $(GO) build -o $(BIN)/cairnctl ./cmd/cairnctl; fi
	$(GO) build -o $(BIN)/cairn-bench ./cmd/cairn-bench

# run: a single-node Cairn on 127.0.0.1:2379, data in ./default.cairn
run: build
	./$(BIN)/cairn

# test: unit tests with the race detector, then the integration tests that
# start the real binaries on loopback (tests/robustness among them: the
# short fault run, about two minutes), then the fuzz targets for a bounded
# time each.
test: unit e2e fuzz

unit:
	$(GO) test -race -count=1 ./internal/... ./cmd/...

e2e:
	$(GO) test -count=1 -timeout 15m ./tests/...

# Fuzz budgets are execution counts, about 30 s each on a 2-CPU machine:
# with a duration, Go 1.26's fuzz coordinator can fail a target with
# "context deadline exceeded" as the time runs out under load (no failing
# input; golang/go#75804, fixed in Go 1.27). FUZZTIME=<duration or Nx>
# sets one budget for both.
FUZZ_GRPC ?= 800x
FUZZ_KEYS ?= 150000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzGRPC$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_GRPC)) ./tests/robustness
	$(GO) test -run '^$$' -fuzz '^FuzzKeyEncoding$$' -fuzztime $(or $(FUZZTIME),$(FUZZ_KEYS)) ./internal/mvcc

clean:
	rm -rf $(BIN)
