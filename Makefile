# vendgate — see README.md. `make run` and `make test` are all a newcomer needs.
GO       ?= go
DATA     ?= ./data
DEMO     ?= 10
BIN      := bin
FUZZTIME ?= 10s
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build run test test-short bench fuzz lint clean loadtest

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

# The gateway on its embedded defaults (MQTT 127.0.0.1:1883, HTTP 127.0.0.1:8080,
# data in ./data) with a demo fleet of $(DEMO) emulated machines over loopback.
run: build
	$(BIN)/vendgate serve --data-dir $(DATA) --demo $(DEMO)

# Everything CI runs: formatting, vet, the layering rules and every test with
# the race detector.
test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

# Fleet load test against the gateway and a bare Mosquitto (the baseline), same
# phases in one run; figures in bin/loadtest-results.txt and BENCHMARKS.md.
# LOADTEST_N=2000 make loadtest is a quick run; other knobs in scripts/loadtest.sh.
loadtest:
	./scripts/loadtest.sh

# A short pass over every fuzz target ($(FUZZTIME) each).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck ./...

clean:
	rm -rf $(BIN)
