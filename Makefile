# authd — see README.md. Tools are pinned in tools/go.mod and run with
# `go tool -modfile=tools/go.mod`, so nothing is installed globally.
GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
RACE      := $(if $(CI),-race,)
# A count, not a duration: with -fuzztime 5s Go 1.26's coordinator may
# report "context deadline exceeded" at the deadline on a loaded machine
# without finding anything (go.dev/issue/75804, fixed in Go 1.27); a count
# has no deadline to race. `make fuzz FUZZTIME=2m` still fuzzes by time.
FUZZTIME  ?= 20000x

.PHONY: run demo build test test-deps skipped test-short fuzz bench load lint gen gen-check consumer connect-example web web-check browser clean

# make run's addresses: set them on the command line or in the environment
# (AUTHD_ADDR=127.0.0.1:6000 make run); empty AUTHD_HTTP_ADDR turns HTTP off.
AUTHD_ADDR      ?= 127.0.0.1:50051
AUTHD_HTTP_ADDR ?= 127.0.0.1:8080

## run: start authd on $(AUTHD_ADDR) (HTTP JWKS on $(AUTHD_HTTP_ADDR)) with SQLite and keys in ./data
run: build
	./bin/authd serve --addr '$(AUTHD_ADDR)' --http-addr '$(AUTHD_HTTP_ADDR)'

## demo: start the example GreeterService on 127.0.0.1:50052 (run `make run` first)
demo:
	$(GO) run ./examples/greeter/cmd/greeter --addr 127.0.0.1:50052 --authd 127.0.0.1:50051

build:
	$(GO) build -o bin/authd ./cmd/authd

## test: the whole suite (race detector under CI=true; with the browser test when Chromium is
## installed), then examples/consumer, examples/connect and examples/web, then each fuzz target briefly
test: test-deps
	$(GO) test $(RACE) -count=1 ./...
	@$(MAKE) --no-print-directory skipped
	$(MAKE) consumer
	$(MAKE) connect-example
	$(MAKE) web-check
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

# test-deps installs what the tests take from the npm registry, at the
# versions each package-lock.json pins: Node's jose (e2e/jose;
# cmd/authd/discovery_test.go verifies authd's tokens with it), playwright-core
# (e2e/browser drives Chromium with it), and the page's toolchain
# (examples/web: protoc-gen-es, esbuild, tsc). It runs npm only where
# node_modules is not the lock file's; without npm it says what will be skipped.
NPM_DIRS := e2e/jose e2e/browser examples/web
test-deps:
	@if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then \
	  echo "SKIPPED: node or npm is not installed, so Node's jose does not verify authd's tokens (cmd/authd/discovery_test.go), the browser test (e2e/browser) does not run and examples/web is not checked"; \
	else \
	  for d in $(NPM_DIRS); do \
	    stamp=$$d/node_modules/.package-lock.json; \
	    if ! cmp -s $$d/package-lock.json $$stamp 2>/dev/null && ! { test -f $$stamp && test $$stamp -nt $$d/package-lock.json; }; then \
	      npm ci --prefix $$d --ignore-scripts --no-audit --no-fund || exit 1; \
	    fi; \
	  done; \
	fi

# skipped says which backend tests `go test` skipped: a skipped package
# still prints `ok`, which reads as a pass.
skipped:
	@test -n "$$AUTHD_TEST_POSTGRES" || echo "SKIPPED: AUTHD_TEST_POSTGRES is not set, so the PostgreSQL tests (store/postgres, keys in PostgreSQL, the two-instance fleet in cmd/authd) did not run"
	@test -n "$$AUTHD_TEST_REDIS" || echo "SKIPPED: AUTHD_TEST_REDIS is not set, so the Redis tests (store/redisstore, the fleet with Redis in cmd/authd) did not run"
	@test -x "$${AUTHD_CHROMIUM:-/usr/bin/chromium}" || echo "SKIPPED: Chromium is not installed (apt-get install chromium), so the browser test (e2e/browser) did not run"

## fuzz: run every fuzz target for FUZZTIME each (20000 inputs, or a duration such as FUZZTIME=30s)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzBearer$$' -fuzztime $(FUZZTIME) ./interceptors
	$(GO) test -run '^$$' -fuzz '^FuzzCookieCredential$$' -fuzztime $(FUZZTIME) ./guard
	$(GO) test -run '^$$' -fuzz '^FuzzAuthorize$$' -fuzztime $(FUZZTIME) ./interceptors
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./token
	$(GO) test -run '^$$' -fuzz '^FuzzProof$$' -fuzztime $(FUZZTIME) ./dpop
	$(GO) test -run '^$$' -fuzz '^FuzzMemberNames$$' -fuzztime $(FUZZTIME) ./token
	$(GO) test -run '^$$' -fuzz '^FuzzLogin$$' -fuzztime $(FUZZTIME) ./service
	$(GO) test -run '^$$' -fuzz '^FuzzListRevocations$$' -fuzztime $(FUZZTIME) ./service
	$(GO) test -run '^$$' -fuzz '^FuzzFinishPasskeyLogin$$' -fuzztime $(FUZZTIME) ./service
	$(GO) test -run '^$$' -fuzz '^FuzzLoginSecondFactor$$' -fuzztime $(FUZZTIME) ./service

## load: ghz and its own driver against a real authd and the example greeter on loopback (SQLite, and PostgreSQL when AUTHD_TEST_POSTGRES is set); servers on CPU 0, load on CPU 1; PROFILE=DIR keeps authd's CPU profiles
LOAD_CPU := $(shell [ "$$(nproc)" -ge 2 ] && command -v taskset >/dev/null && echo taskset -c 1)
load:
	$(LOAD_CPU) $(GO) run ./internal/loadtest $(if $(SCALE),-scale $(SCALE)) $(if $(PROFILE),-profile $(PROFILE))

## bench: interceptors (ACCESS, rules, a DPoP-bound call vs a bearer call), DPoP proofs (verify, sign), the connect adapter (ACCESS vs public), verification, logins (unknown user vs wrong password, a burst of 500, vs raw argon2id, with a second factor vs a password login), Refresh with rotation vs a health check, SQLite rotation (synchronous full vs normal); ratios to a baseline of the same run
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./interceptors ./connectauth ./token ./dpop ./service ./store/sqlite ./protect

## lint: gofmt, go vet, staticcheck, buf lint
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); exit 1)
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	$(TOOL) buf lint

## gen: regenerate gen/ from proto/ with pinned buf and plugins
gen:
	$(TOOL) buf generate

## gen-check: fail when gen/ differs from what `make gen` produces
gen-check: gen
	@git diff --exit-code --stat -- gen || (echo "gen/ is out of date: run make gen and commit"; exit 1)
	@test -z "$$(git status --porcelain -- gen)" || (git status --porcelain -- gen; echo "gen/ has untracked files"; exit 1)

## consumer: examples/consumer, a module of its own that README copies from: refresh its
## third_party/auth/v1/options.proto (buf export) and gen/, fail when either changed, vet and test it
consumer:
	$(TOOL) buf export . --path proto/auth/v1/options.proto -o examples/consumer/third_party
	cd examples/consumer && $(GO) tool -modfile=../../tools/go.mod buf lint && $(GO) tool -modfile=../../tools/go.mod buf generate
	@git diff --exit-code --stat -- examples/consumer/gen examples/consumer/third_party || (echo "examples/consumer is out of date: run make consumer and commit"; exit 1)
	@test -z "$$(git status --porcelain -- examples/consumer/gen examples/consumer/third_party)" || (git status --porcelain -- examples/consumer; echo "examples/consumer has untracked generated files"; exit 1)
	cd examples/consumer && test -z "$$(gofmt -l .)" && $(GO) vet ./... && $(GO) test $(RACE) -count=1 ./...

## connect-example: examples/connect, the connect-go module README copies from: refresh its
## third_party/auth/v1/options.proto and gen/, fail when either changed, vet and test it
connect-example:
	$(TOOL) buf export . --path proto/auth/v1/options.proto -o examples/connect/third_party
	cd examples/connect && $(GO) tool -modfile=../../tools/go.mod buf lint && $(GO) tool -modfile=../../tools/go.mod buf generate
	@git diff --exit-code --stat -- examples/connect/gen examples/connect/third_party || (echo "examples/connect is out of date: run make connect-example and commit"; exit 1)
	@test -z "$$(git status --porcelain -- examples/connect/gen examples/connect/third_party)" || (git status --porcelain -- examples/connect; echo "examples/connect has untracked generated files"; exit 1)
	cd examples/connect && test -z "$$(gofmt -l .)" && $(GO) vet ./... && $(GO) test $(RACE) -count=1 ./...

## web: build the page of examples/web into examples/web/dist (serve it: examples/connect --web examples/web/dist)
web: test-deps
	cd examples/web && node build.mjs dist

## web-check: regenerate examples/web/src/gen (protoc-gen-es of its lock, pinned buf), fail when it
## changed, and type-check the page (tsc)
web-check: test-deps
	@if ! command -v npm >/dev/null 2>&1; then echo "SKIPPED: npm is not installed, so examples/web was not checked"; exit 0; fi; \
	set -e; cd examples/web; \
	$(GO) tool -modfile=../../tools/go.mod buf generate; \
	git diff --exit-code --stat -- src/gen || { echo "examples/web/src/gen is out of date: run make web-check and commit"; exit 1; }; \
	test -z "$$(git status --porcelain -- src/gen)" || { git status --porcelain -- src/gen; echo "examples/web/src/gen has untracked files"; exit 1; }; \
	node_modules/.bin/tsc -p .

## browser: the browser test alone: headless Chromium through the page of examples/web, against
## authd and examples/connect (prints SKIPPED: without Chromium or node)
browser: test-deps
	$(GO) test -count=1 -v -run '^TestBrowser' ./e2e/browser

clean:
	rm -rf bin
