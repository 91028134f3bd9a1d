# The README's two commands: `go run ./cmd/powersync dev` and `make test`.
GO ?= go
TESTFLAGS ?= -race -timeout 30m

.PHONY: test test-deps build check bench

## test: install what the tests need (Postgres, Chromium, the official SDK in
## compat/), then run every test with nothing skipped.
test: test-deps
	POWERSYNC_TEST_REQUIRE_ALL=1 $(GO) test $(TESTFLAGS) ./...

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
