# Keyward developer tasks. `go run .` and `go test ./...` need none of this;
# Node is only needed to rebuild the CSS (make css / make generate).
# CI (.ci/run) runs `make check-generated`, `make lint` and `make test-ci`,
# so what passes here passes there.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build generate templ css apiclient openapi run test test-race test-ci lint check-generated fuzz bench screenshots clean

all: lint test build

## build: compile ./keyward with the version stamped in
build:
	go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o keyward .

## generate: regenerate the committed templ Go files, the Tailwind CSS and
## the management API's client (from the committed OpenAPI document)
generate: templ css apiclient

templ:
	go tool templ generate

## css: rebuild static/css/app.css from static/css/input.css (needs `npm ci` once)
css:
	npm run build:css

# oapi-codegen lives in tools/go.mod with the linters (see LINT_TOOL below).
## apiclient: regenerate web/apiclient (the typed client the end-to-end test
## drives) from docs/openapi-3.0.json
apiclient:
	go tool -modfile=tools/go.mod oapi-codegen -config web/apiclient/oapi-codegen.yaml docs/openapi-3.0.json

## openapi: rewrite docs/openapi.json and docs/openapi-3.0.json from what the
## server serves (TestOpenAPIDocumentCommitted fails until this is run after
## an operation changed), then regenerate the client from them
openapi:
	KEYWARD_UPDATE_OPENAPI=1 go test -run '^TestOpenAPIDocumentCommitted$$' -count=1 ./web/
	$(MAKE) apiclient

## run: serve the dashboard on http://localhost:8080
run:
	go run .

test:
	go test ./...

test-race:
	go test -race ./...

## test-ci: the tests as CI runs them: race detector, no cached results, and
## every optional test required (browser tests fail when Chromium is missing,
## docs/api.md's examples when curl or jq is).
## The PostgreSQL tests run when KEYWARD_TEST_POSTGRES names a server (a
## postgres:// URL of a role with CREATEDB; .ci/run starts Debian's and sets
## it) and then fail, not skip, when it does not answer. Without it they
## skip, which would let CI pass without them: with CI=true (as .ci/run
## runs) test-ci refuses to start unless it is set. The same goes for
## KEYWARD_TEST_POSTGRES_OUTAGE, "VERSION CLUSTER URL" of a second cluster
## that TestPostgresOutage stops and starts under load (it needs root for
## pg_ctlcluster; .ci/run creates the cluster "outage" on port 5433).
test-ci:
	@if [ "$$CI" = true ] && [ -z "$$KEYWARD_TEST_POSTGRES" ]; then \
		echo "make test-ci: CI=true but KEYWARD_TEST_POSTGRES is not set, so the PostgreSQL tests would be skipped; set it to postgres://ROLE:PASSWORD@HOST:PORT/postgres (.ci/run does)." >&2; \
		exit 1; \
	fi
	@if [ "$$CI" = true ] && [ -z "$$KEYWARD_TEST_POSTGRES_OUTAGE" ]; then \
		echo "make test-ci: CI=true but KEYWARD_TEST_POSTGRES_OUTAGE is not set, so the PostgreSQL outage test would be skipped; set it to \"VERSION CLUSTER postgres://ROLE:PASSWORD@HOST:PORT/postgres\" of a cluster it may stop (.ci/run does)." >&2; \
		exit 1; \
	fi
	KEYWARD_BROWSER_TESTS=required KEYWARD_DOCS_TESTS=required go test -race -count=1 -timeout 40m ./...
	# Every benchmark once: a feature that breaks a benchmark's setup (a
	# scope the catalog does not hold) fails here, not in make bench.
	go test -run '^$$' -bench . -benchtime 1x -count=1 ./...

# The linters live in a module of their own (tools/go.mod), so that their
# dependencies stay out of keyward's module graph; -modfile builds them from
# it while they analyse this module.
LINT_TOOL = go tool -modfile=tools/go.mod

## lint: exactly what CI checks: gofmt, go vet, staticcheck and gosec.
## gosec findings that are not real carry #nosec with a reason. bench/ is the
## benchmark harness, never built into keyward: it runs wrk, go and its own
## binaries by design and writes reports where told, so gosec skips it.
lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "$$unformatted"; echo "These files need gofmt." >&2; exit 1; fi
	go vet ./...
	$(LINT_TOOL) staticcheck ./...
	$(LINT_TOOL) gosec -quiet -exclude-dir=bench ./...

## check-generated: regenerate the templ files, the CSS and the API client, then fail if
## they differ from the committed ones or left files that are not committed
check-generated: generate
	@if ! git diff --exit-code; then \
		echo "Generated files differ from the committed ones: run 'make generate' and commit the result." >&2; \
		exit 1; \
	fi
	@untracked="$$(git status --porcelain)"; \
	if [ -n "$$untracked" ]; then \
		echo "$$untracked"; \
		echo "Generating left files that are not committed: run 'make generate' and commit them." >&2; \
		exit 1; \
	fi

## fuzz: run every fuzz target for FUZZTIME (default 60s) each; a crasher
## is written to <pkg>/testdata/fuzz/<Target>/ and fails the run. Go 1.26's
## coordinator can end a target with a bare "context deadline exceeded" at
## the time limit (golang/go#75804, fixed in Go 1.27): without a failing
## input that is not a finding, so it is reported and passed over.
FUZZTIME ?= 60s
FUZZ_TARGETS = db:FuzzParseKey db:FuzzParseScopes db:FuzzKeyInput db:FuzzTruncateUTF8 \
	handlers:FuzzVerifyBody handlers:FuzzLoginForm handlers:FuzzKeyForm handlers:FuzzCSV \
	handlers:FuzzDecodeVerifyRequest web:FuzzIPExtractor
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "==> $$name in ./$$pkg ($(FUZZTIME))"; \
		if out=$$(go test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$pkg/ 2>&1); then \
			echo "$$out" | tail -n 2; \
		elif echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
			echo "$$out" | tail -n 4; \
			echo "    (deadline race of the Go 1.26 fuzz coordinator, no failing input: not a finding)"; \
		else \
			echo "$$out"; exit 1; \
		fi; \
	done

## soak: the long runs: 1,000,000 verifications with exact usage accounting
## (TestSoak -long), then the process tests (SIGKILL and restart, SIGTERM,
## backup under load) on the built binary.
.PHONY: soak
soak:
	go test -run '^TestSoak$$' -v -count=1 -timeout 30m ./web/ -long
	go test -run '^(TestCrashRestart|TestGracefulShutdown|TestBackupUnderLoad)$$' -v -count=1 -timeout 10m .

## bench: the benchmark harness (bench/run, about 7 minutes; needs wrk):
## verify throughput against a bare Echo server, usage freshness, revocation,
## pages at scale, sign-in under pressure, footprint, the PostgreSQL phase
## (when KEYWARD_BENCH_POSTGRES or KEYWARD_TEST_POSTGRES names a server; it
## is skipped otherwise) and the Go microbenchmarks; writes docs/benchmarks.md. BENCH_FLAGS=-profile instead
## writes CPU and allocation profiles of the API under load to bench/out/;
## BENCH_FLAGS='-variants with=REV,…' also builds keyward at those git
## revisions and measures each in the same rounds (how an optimisation is
## held to its figure; docs/benchmarks.md section 8 has the command used).
bench:
	go run ./bench/run $(BENCH_FLAGS)

## screenshots: drive Chromium through every main page and write
## docs/screenshots/<page>-{desktop,mobile,desktop-dark}.png (needs npm ci
## for nothing, but Chromium installed)
screenshots:
	KEYWARD_SCREENSHOTS=$(CURDIR)/docs/screenshots go test -run '^TestScreenshots$$' -count=1 -timeout 10m ./web/

## clean: remove build output (never ./data, which holds the database)
clean:
	rm -f keyward
	rm -rf bench/out
