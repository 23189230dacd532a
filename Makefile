# bluegreen — see README.md. `make demo` and `make test` are the quick start.
GO      ?= go
BIN     := bin/bluegreen
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build demo test vet fmt-check cross bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/bluegreen

demo: build
	./$(BIN) demo

# The test suite: formatting, vet, the macOS build, then every package with
# the race detector.
test: fmt-check vet cross
	$(GO) test -race -count=1 -timeout 20m ./...

# serve is Linux-only, but the CLI verbs run from laptops: the one binary
# must build for macOS (about 80 s with a cold build cache, seconds after).
cross:
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/bluegreen

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# Benchmarks (not tests): see bench/README.md.
bench: build
	bash bench/run.sh

clean:
	rm -rf bin
