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

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzGRPC$$' -fuzztime $(FUZZTIME) ./tests/robustness
	$(GO) test -run '^$$' -fuzz '^FuzzKeyEncoding$$' -fuzztime $(FUZZTIME) ./internal/mvcc

clean:
	rm -rf $(BIN)
