# The README's two commands: `go run ./cmd/powersync dev` and `make test`.
GO ?= go
TESTFLAGS ?= -race -timeout 30m
NORACE_TESTS = ^TestConcurrentConnections1000$$

.PHONY: test test-deps build check bench

## test: install what the tests need (Postgres, Chromium, the official SDK in
## compat/), then run every test with nothing skipped.
## Tests that cannot run under the race detector (1000 concurrent clients
## exceed its goroutine limit) carry `//go:build !race`; the second step runs
## them in a normal build so nothing is left out.
test: test-deps
	POWERSYNC_TEST_REQUIRE_ALL=1 $(GO) test $(TESTFLAGS) ./...
	POWERSYNC_TEST_REQUIRE_ALL=1 $(GO) test -timeout 10m -run '$(NORACE_TESTS)' ./internal/cli/

## test-deps: install missing test dependencies (apt-get, npm).
test-deps:
	./scripts/test-deps.sh

## build: the powersync binary in ./bin.
build:
	$(GO) build -o bin/powersync ./cmd/powersync

## check: what CI runs besides the tests.
check:
	test -z "$$(gofmt -l .)"
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## bench: the Go benchmarks (figures go to docs/benchmarks.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
