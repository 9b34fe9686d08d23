# c1m — see README.md. `make run` starts the server, `make test` runs everything CI runs.
GO        ?= go
BIN       := bin/c1m
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
# Fuzz targets (package:Target:executions). `make test` runs each for its
# count of executions (about 15 s each on a quiet 2-core box). A count, not
# a duration: with a -fuzztime duration, go1.26's fuzz coordinator can fail
# a clean run with "context deadline exceeded" when the time ends while a
# worker is busy (go.dev/issue/75804, fixed in Go 1.27), and a busy box
# makes that likely. `make fuzz` runs each for FUZZTIME when given (make
# fuzz FUZZTIME=10m), else 60s: a long run meets the race once at its
# end, and a bare "context deadline exceeded" with no input written to
# testdata/fuzz/ is that race, not a finding.
FUZZTIME  ?=
FUZZ_TARGETS := ./server:FuzzProxyHeader:120000 ./wsproto:FuzzReader:300000 ./wsproto:FuzzHandshake:300000 \
	./wsproto:FuzzUTF8:150000 ./app:FuzzEnvelope:50000 ./cluster:FuzzToken:50000
FUZZ_LONG := $(if $(FUZZTIME),$(FUZZTIME),60s)
# `make conformance CONFORMANCE_REPORT=docs/conformance.md` also writes the table there.
CONFORMANCE_REPORT ?=

.PHONY: all build run test deps check-deploy unit fuzz-smoke fuzz conformance race lint fmt vet bench bench-idle bench-smoke clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/c1m

run: build
	./$(BIN) serve --auth=none

test: deps lint check-deploy unit fuzz-smoke

# What the tests need besides Go, installed only where missing (.ci/deps):
# Chromium, promtool, systemd-analyze, Python's and Node's WebSocket clients.
deps:
	@./.ci/deps

# The deployment files: promtool checks the alert rules and runs their unit
# tests (Debian's prometheus package, which .ci/run installs); the Go tests
# in deploy/ check the dashboard's queries and the metric names too.
check-deploy:
	@command -v promtool >/dev/null || { echo "check-deploy: promtool not found; install Debian's prometheus package (apt-get install prometheus, as .ci/run does)" >&2; exit 1; }
	promtool check rules deploy/prometheus/c1m-alerts.yml
	cd deploy/prometheus && promtool test rules c1m-alerts_test.yml

unit: build
	$(GO) test -count=1 -timeout 20m $(PKGS)

fuzz-smoke:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$${rest#*:}; \
		budget=$(if $(FUZZTIME),$(FUZZTIME),$${n}x); \
		echo "fuzz $$pkg $$name for $$budget"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $$budget $$pkg; \
	done

# Every fuzz target for $(FUZZ_LONG); crashers land in testdata/fuzz/ as
# regression seeds.
fuzz:
	@$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=$(FUZZ_LONG)

# The full RFC 6455 conformance table (Autobahn categories 1-9) against the
# real binary; fails on any FAILED or NON-STRICT case.
conformance:
	$(GO) test -count=1 -timeout 30m -run '^TestConformance$$' -v ./server/conformance \
		-args -conformance.full $(if $(CONFORMANCE_REPORT),-conformance.report=$(CONFORMANCE_REPORT))

race:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK) vet
	$(STATICCHECK) $(PKGS)

fmt:
	gofmt -l -w $$(git ls-files '*.go')

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	# The stubs off Linux must stay honest: vet the other platforms too.
	GOOS=darwin $(GO) vet $(PKGS)
	GOOS=windows $(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# The benchmark's smoke run (also part of `make test`): 30,000 connections,
# two servers, two workers, idle + 5 broadcasts + the slow scenario; then
# --compare raw,c1m at 5,000 connections (the floor side by side with c1m).
bench-smoke:
	$(GO) test -count=1 -run '^TestBenchSmoke$$' -v ./cmd/c1m

bench-idle: build
	./$(BIN) bench --scenario idle --conns 19000 --servers 1 --workers 1 --hold 10s --out bench-results/idle-app
	./$(BIN) bench --scenario idle --conns 19000 --servers 1 --workers 1 --hold 10s --handler discard --out bench-results/idle-discard

clean:
	rm -rf bin
