# fleetgate — build, test and demo.
#   make demo   runs the control plane, three agents and their etcd servers on loopback
#   make test   format, vet, buf lint, generated code, race tests (CI runs it, then make fuzz)

SHELL      := /bin/bash
GO         ?= go
TOOLS      := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)

BUF_VERSION                ?= v1.75.0
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
# On linux/amd64 buf is the release binary from npm (@bufbuild/buf-linux-x64, the package
# Buf publishes), checked against this SHA-256; compiling it takes minutes on an empty Go
# cache. Elsewhere, or when npm is missing or the checksum differs, it is built with go install.
BUF_LINUX_X64_SHA256       ?= fad1e38d6909bbb583a4da81d8c02a01046e2cd663bde7e337dd24277393764b

# -vet=off: `make vet` has just run every analyzer over the same packages, so go test's own
# smaller vet pass (~1 CPU-minute on an empty cache) would only repeat it. -ldflags=-w: test
# binaries carry no DWARF, which cuts a third of each race link; race reports and panics keep
# their file:line (they come from the symbol table, not DWARF).
GOTEST_FLAGS ?= -race -vet=off -ldflags=-w -timeout 20m
# VERSION names the build in `fleetgate version` (the release tag, else the commit).
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
# A count, not a duration: Go 1.26's fuzz coordinator can fail a run with a bare "context
# deadline exceeded" at the end of a -fuzztime duration (golang/go#75804, fixed in 1.27).
FUZZTIME     ?= 20000x
ARGS         ?=

.PHONY: all build test check fmt-check vet lint proto proto-check tools fuzz bench bench-reconnect demo demo-tour help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

build: ## build bin/fleetgate
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/fleetgate ./cmd/fleetgate

tools: ## install buf and the protoc plugins (pinned) into .tools/bin
	@mkdir -p $(TOOLS)
	@if ! test -x $(TOOLS)/buf && [ "$$(uname -sm)" = "Linux x86_64" ] && command -v npm >/dev/null; then \
	  tmp=$$(mktemp -d); \
	  if (cd $$tmp && npm pack --silent @bufbuild/buf-linux-x64@$(BUF_VERSION:v%=%) >/dev/null && tar xzf *.tgz package/bin/buf) && \
	     echo "$(BUF_LINUX_X64_SHA256)  $$tmp/package/bin/buf" | sha256sum -c --quiet; then \
	    mv $$tmp/package/bin/buf $(TOOLS)/buf; \
	  else echo "buf from npm unavailable or its checksum differs; building it from source"; fi; \
	  rm -rf $$tmp; \
	fi
	@test -x $(TOOLS)/buf || GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@test -x $(TOOLS)/protoc-gen-go || GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@test -x $(TOOLS)/protoc-gen-go-grpc || GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: tools ## regenerate the Go code of proto/ with buf and local plugins
	buf generate

proto-check: tools ## fail if the committed generated code is stale
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	buf generate -o $$tmp && \
	for f in proto/fleetgate/v1/*.pb.go; do \
	  diff -u $$f $$tmp/$$f >/dev/null || { echo "stale generated code: $$f (run 'make proto' and commit)"; diff -u $$f $$tmp/$$f | head -20; exit 1; }; \
	done; \
	n=$$(ls $$tmp/proto/fleetgate/v1/*.pb.go | wc -l); m=$$(ls proto/fleetgate/v1/*.pb.go | wc -l); \
	[ $$n = $$m ] || { echo "generated file set differs: $$n generated, $$m committed"; exit 1; }; \
	echo "generated code is up to date"

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	[ -z "$$out" ] || { echo "gofmt would change:"; echo "$$out"; exit 1; }

# vet type-checks against the same race-instrumented dependency archives `go test -race`
# compiles, so an empty build cache compiles the dependency tree once, not once plain for vet
# and again with -race for the tests (VETFLAGS= gives a plain vet).
VETFLAGS ?= -race

vet:
	$(GO) vet $(VETFLAGS) ./...

lint: tools
	buf lint

check: fmt-check vet lint proto-check

# The end-to-end package (test/e2e, about 4 minutes, mostly waiting on real processes and
# timers) starts at once beside the other packages instead of running alone at the end; its
# output is printed when it is done. On the 2-core build machine with an empty Go build cache,
# `.ci/run` takes ~14 minutes (13 m 47 s on 2026-12-05: 24 minutes of CPU, so the floor is ~12
# on two cores); with warm caches ~5 (README "Development").
test: check ## format, vet, buf lint, generated-code check, go test -race ./...
	@set -u; log=$$(mktemp); \
	$(GO) test $(GOTEST_FLAGS) ./test/e2e/ >$$log 2>&1 & e2e=$$!; \
	$(GO) test $(GOTEST_FLAGS) $$($(GO) list ./... | grep -v '/test/e2e$$'); rest=$$?; \
	wait $$e2e; e2erc=$$?; cat $$log; rm -f $$log; \
	[ $$rest -eq 0 ] && [ $$e2erc -eq 0 ]

fuzz: ## a short run of the config parser fuzzer (FUZZTIME=20000x executions; a duration such as 5m works too)
	$(GO) test ./snapshot -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x

bench: build ## the benchmarks quoted in README.md "Benchmarks" and docs/
	$(GO) test ./snapshot -run '^$$' -bench . -benchmem
	$(GO) test ./gitsource -run '^$$' -bench . -benchtime 20x -benchmem
	$(GO) test ./controlplane/pipeline -run '^$$' -bench BuildAndStore10k -benchtime 5x
	$(GO) test ./dataplane-agent/sink/etcd -run '^$$' -bench . -benchmem -benchtime 3x
	./bin/fleetgate bench push --agents 1000 --routes 1000 --changes 10
	./bin/fleetgate bench push --agents 1000 --routes 10000 --changes 10
	$(GO) test ./dataplane-agent -run '^$$' -bench 'Patch|DeltaUpdate|FullUpdate|CompressedFullUpdate' -benchmem -count 3
	$(GO) test ./internal/bench -run '^$$' -bench FirstTouch -count 3
	./bin/fleetgate bench push --agents 10000 --routes 100 --changes 5 --connect-timeout 3m --timeout 4m
	./bin/fleetgate bench converge --agents 1000 --routes 10000 --files 500 --changes 20 --plot docs/img/whole-path-converge.png

bench-reconnect: build ## control plane restarts with 1,000 agents: shutdown, reconnect+confirm time, bytes re-sent (docs/benchmarks-reconnect.md)
	./bin/fleetgate bench reconnect --agents 1000 --routes 1000 --restarts 3
	./bin/fleetgate bench reconnect --agents 1000 --routes 10000 --restarts 3

EXAMPLE := examples/gitops-repo

demo: build ## validate the example repo, diff staging vs production, then run a real fleet on loopback (ARGS=--tour for the scripted tour)
	@echo "== fleetgate validate $(EXAMPLE)/base $(EXAMPLE)/staging"
	@./bin/fleetgate validate $(EXAMPLE)/base $(EXAMPLE)/staging
	@echo "== fleetgate validate $(EXAMPLE)/base $(EXAMPLE)/production"
	@./bin/fleetgate validate $(EXAMPLE)/base $(EXAMPLE)/production
	@echo "== fleetgate diff (staging -> production)"
	@./bin/fleetgate diff $(EXAMPLE)/base,$(EXAMPLE)/staging $(EXAMPLE)/base,$(EXAMPLE)/production; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 2 ]
	@echo
	./bin/fleetgate demo $(ARGS)

demo-tour: build ## the scripted demo tour; exits non-zero if any step fails
	./bin/fleetgate demo --tour
