# bluegreen — see README.md. `make demo` and `make test` are the quick start.
GO      ?= go
BIN     := bin/bluegreen
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build demo test vet fmt-check cross fuzz-smoke bench docs clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/bluegreen

demo: build
	./$(BIN) demo

# The test suite: formatting, vet, the macOS build, every package with the
# race detector (which replays each fuzz target's committed corpus), then
# each fuzz target fuzzing briefly.
test: fmt-check vet cross
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz-smoke

# Every native fuzz target, PACKAGE:TARGET, each fuzzed for FUZZ_COUNT
# inputs past its corpus (a count, not a time: Go 1.26's -fuzztime
# duration can end a clean run with "context deadline exceeded",
# golang/go#75804). A long run: go test -run '^$$' -fuzz '^FuzzX$$'
# -fuzztime 5m ./pkg.
FUZZ_TARGETS := ./config:FuzzParse ./api:FuzzCleanActor ./router:FuzzRawHead ./router:FuzzRawRequest \
	./router:FuzzVetHead ./router:FuzzChunkScanner ./router:FuzzHeadFollower ./agent:FuzzUnpack
FUZZ_TARGETS += ./agent/sshinstall:FuzzParseTarget ./agent/sshinstall:FuzzParsePID ./agent/sshinstall:FuzzIsAgentOf ./agent/sshinstall:FuzzParseUname
FUZZ_COUNT ?= 3000x
fuzz-smoke:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZ_COUNT))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZ_COUNT) -parallel 1 $$pkg; \
	done

# serve is Linux-only, but the CLI verbs run from laptops: the one binary
# must build for macOS (about 80 s with a cold build cache, seconds after).
cross:
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/bluegreen

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The CLI reference (docs/cli.md, below its generated marker) and the man
# pages (docs/man/) from the cobra commands; TestDocsUpToDate fails when
# they drift from the code.
docs:
	$(GO) run ./cmd/bluegreen docs --dir docs

# Benchmarks (not tests): see bench/README.md.
bench: build
	bash bench/run.sh

clean:
	rm -rf bin
