# PlanoAuth. A fresh machine needs Go and PostgreSQL's binaries (and Node/npm for lint and the
# TypeScript SDK test); every Go tool is pinned in go.mod and run with `go tool`.

GO        ?= go
NPM_STAMP := node_modules/.package-lock.json
FUZZTIME  ?= 20s
BENCHFLAGS ?=

.PHONY: run test test-sdk bench check generate drift lint vet fmt build clean docs-check links-check mfa-check fuzz

## run: serve on 127.0.0.1:8080 (PLANOAUTH_ADDR) with a private PostgreSQL under .data/ unless DATABASE_URL is set
run:
	$(GO) build -o bin/planoauth ./cmd/planoauth && exec bin/planoauth serve

## test: every test against a real PostgreSQL (DATABASE_URL, or a throwaway cluster per test package)
test:
	$(GO) test -count=1 -timeout 20m ./...

## docs-check: render /docs in headless Chromium, offline, and check every operation is shown (saves docs/screenshot.png)
docs-check:
	scripts/docs-check.sh

## links-check: the emailed links in headless Chromium (Playwright), offline: reset (and its security email's plain link), sign-in link and invitation, each opened twice before use (saves docs/links-*.png)
links-check: $(NPM_STAMP)
	scripts/browser-check.sh scripts/links-check/links.mjs

## mfa-check: the /security page in headless Chromium (Playwright), offline: an authenticator app set up and used, a passkey registered and signed in with on a virtual authenticator (saves docs/mfa-*.png)
mfa-check: $(NPM_STAMP)
	scripts/browser-check.sh scripts/mfa-check/mfa.mjs

## fuzz: run every FuzzXxx target for FUZZTIME (default 20s) each, one after another
# The targets are found in the code, so a new one is fuzzed without being listed here. A
# failing input is saved under the package's testdata/fuzz/: commit it, and go test replays it.
fuzz:
	@targets=$$(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' cmd internal scripts | sort); \
	test -n "$$targets" || { echo "no fuzz targets found"; exit 1; }; \
	echo "$$targets" | while IFS=: read -r file fn; do \
		name=$${fn#func }; pkg=./$$(dirname "$$file"); \
		echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) "$$pkg" || exit 1; \
	done

## test-sdk: each generated TypeScript client against a running server: openapi-fetch over openapi-typescript's types, and @hey-api/openapi-ts
# The generators run as the README's "Generate your own client" says; tsc also compiles the
# *.typecheck.ts files, which fail when a slug or a sensitive body's parameters are untyped.
# The Go SDK's end-to-end test and its plain-configuration check run in `make test`.
test-sdk: $(NPM_STAMP)
	rm -rf sdk/ts/gen sdk/ts/dist
	npx --no-install openapi-typescript api/openapi.yaml --default-non-nullable false -o sdk/ts/gen/schema.ts
	npx --no-install openapi-ts -i ./api/openapi.yaml -o sdk/ts/gen/hey -c @hey-api/client-fetch
	npx --no-install tsc -p sdk/ts
	scripts/with-server.sh node --test sdk/ts/dist/

## bench: PlanoAuth beside its baselines under wrk, three to four minutes of both CPUs; writes bench/RESULTS.md
# BENCHFLAGS=-quick is a smoke run that only prints; `go run ./bench -h` lists the other flags.
bench:
	$(GO) run ./bench $(BENCHFLAGS)

## generate: regenerate internal/gen and the Go SDK from api/openapi.yaml and sql/
generate:
	$(GO) generate ./internal/gen/ ./sdk/go/...

## drift: fail when generated code (internal/gen, sdk/go) differs from what its sources generate
drift:
	@rm -rf .drift && mkdir -p .drift && cp -r internal/gen .drift/gen && cp -r sdk/go .drift/sdk
	@$(MAKE) --no-print-directory generate >/dev/null
	@{ diff -r .drift/gen internal/gen && diff -r .drift/sdk sdk/go; } >/dev/null || { diff -r .drift/gen internal/gen | head -20; \
		diff -r .drift/sdk sdk/go | head -20; rm -rf .drift; \
		echo "generated code was stale and has been regenerated: review and commit it"; exit 1; }
	@rm -rf .drift

## lint: the contract (Redocly, recommended rules) and the Go code (gofmt, go vet)
lint: $(NPM_STAMP) vet fmt
	npx --no-install redocly lint api/openapi.yaml

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

vet:
	$(GO) vet ./...

fmt:
	@test -z "$$(gofmt -l cmd internal api sql scripts bench sdk)" || { gofmt -l cmd internal api sql scripts bench sdk; echo "run gofmt -w"; exit 1; }

## check: drift, lint and tests (CI also runs test-sdk, docs-check, links-check and mfa-check)
check: drift lint test

build:
	$(GO) build -o bin/planoauth ./cmd/planoauth

clean:
	rm -rf bin
