# Keyward developer tasks. `go run .` and `go test ./...` need none of this;
# Node is only needed to rebuild the CSS (make css / make generate).

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build generate templ css run test test-race lint fuzz bench screenshots clean

all: lint test build

## build: compile ./keyward with the version stamped in
build:
	go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o keyward .

## generate: regenerate the committed templ Go files and the Tailwind CSS
generate: templ css

templ:
	go tool templ generate

## css: rebuild static/css/app.css from static/css/input.css (needs `npm ci` once)
css:
	npm run build:css

## run: serve the dashboard on http://localhost:8080
run:
	go run .

test:
	go test ./...

test-race:
	go test -race ./...

## lint: formatting and go vet, as CI checks them
lint:
	@unformatted="$$(gofmt -l $$(find . -name '*.go' -not -path './node_modules/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

## fuzz: fuzz the key parser for a minute
fuzz:
	go test -fuzz=FuzzParseKey -fuzztime=60s ./db/

## bench: every benchmark, with allocations
bench:
	go test -bench=. -benchmem -run=^$$ ./...

## screenshots: drive Chromium through the main pages and save screenshots
screenshots:
	go test -run TestScreenshots -tags screenshots ./web/...

## clean: remove build output (never ./data, which holds the database)
clean:
	rm -f keyward
	rm -rf bench/out
