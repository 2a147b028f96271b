# earshot — developer entry points. `make run` and `make test` work on a
# fresh machine with Go installed; `make test` installs the SIP peers it
# needs (sipp, baresip) through apt when they are missing and it can.

GO       ?= go
PKGS     := ./...
FUZZTIME ?= 10s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run demo test unit interop bench bench-peers lint fuzz deps clean screenshots bpf

all: build

build:
	$(GO) build -o bin/earshot ./cmd/earshot

run:
	$(GO) run ./cmd/earshot serve

# demo walks simulated parties through supervision and measures who hears whom.
demo:
	$(GO) run ./cmd/earshot demo

# deps installs the real SIP peers the interop tests drive.
deps:
	@scripts/install-deps.sh

test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# screenshots runs the browser test and keeps its pictures of the
# workspace in docs/ (the README shows them).
screenshots: deps
	EARSHOT_SCREENSHOTS=docs $(GO) test -count=1 -run 'TestWorkspaceStory' ./e2e/

unit:
	$(GO) test -count=1 -short $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(PKGS)

# bench-peers measures earshot beside Kamailio (call rate) and rtpengine
# (relay CPU per packet) in one run, plus the mixer load and the API's
# reads with 5,000 held calls; as root it installs the peers through apt.
# About 13 minutes; keep the machine quiet.
bench-peers:
	@scripts/bench-peers.sh

# bpf rebuilds the in-kernel relay's program (clang, libbpf-dev); the object
# is committed, so nothing else needs clang.
BPF_ARCH := $(shell uname -m)-linux-gnu
bpf:
	clang -O2 -g -Wall -Werror -target bpfel -I/usr/include/$(BPF_ARCH) \
		-c rtpengine/kernel/relay.c -o rtpengine/kernel/relay_bpfel.o

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# fuzz runs every fuzz target for FUZZTIME each.
fuzz:
	@scripts/fuzz-all.sh $(FUZZTIME)

clean:
	rm -rf bin data
