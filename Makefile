# See https://tech.davis-hansson.com/p/make/
SHELL := bash
.DELETE_ON_ERROR:
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --warn-undefined-variables
MAKEFLAGS += --no-builtin-rules
MAKEFLAGS += --no-print-directory
.SUFFIXES:

GO ?= go
# How much each fuzz target runs in `make test`: a count of executions, not a
# duration, because Go 1.26's fuzz coordinator can report a spurious "context
# deadline exceeded" failure when a duration runs out on a busy machine
# (go.dev/issue/75804, fixed in Go 1.27).
FUZZ_TIME ?= 20000x

# Pinned tool versions, installed into .bin by `make tools`.
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION := v2.33.0
GRPCURL_VERSION := v1.9.4
KUBECONFORM_VERSION := v0.8.0
GOVULNCHECK_VERSION := v1.9.0
# staticcheck 2026.2.2, the first release line that reads Go 1.26 code.
STATICCHECK_VERSION := v0.8.2
# The Kubernetes release whose OpenAPI document deploy/k8s is validated
# against. kubeconform's default schema download is not reachable from every
# build machine, so the document comes from the k8s.io/kubernetes Go module
# (api/openapi-spec/swagger.json) and cmd/herald's TestKubernetesManifests
# turns it into kubeconform's schema files.
K8S_OPENAPI_VERSION := v1.36.3

BIN := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)

# One stamp per tool and version, so a version bump reinstalls that tool.
TOOLS := \
	$(BIN)/.buf-$(BUF_VERSION) \
	$(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION) \
	$(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION) \
	$(BIN)/.protoc-gen-grpc-gateway-$(GRPC_GATEWAY_VERSION) \
	$(BIN)/.protoc-gen-openapiv2-$(GRPC_GATEWAY_VERSION) \
	$(BIN)/.grpcurl-$(GRPCURL_VERSION) \
	$(BIN)/.kubeconform-$(KUBECONFORM_VERSION) \
	$(BIN)/.govulncheck-$(GOVULNCHECK_VERSION) \
	$(BIN)/.staticcheck-$(STATICCHECK_VERSION) \
	$(BIN)/.k8s-openapi-$(K8S_OPENAPI_VERSION)

.PHONY: help
help: ## Describe useful make targets
	@grep -E '^[a-z-]+:.*?## .*$$' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "%-15s %s\n", $$1, $$2}'

# Static binaries without cgo: nothing to link against at run time, and a
# cold build skips compiling the C of Pebble's optional cgo zstd.
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -o bin/

.PHONY: build
build: ## Build bin/herald, bin/heraldctl and bin/herald-bench
	$(GOBUILD) ./cmd/herald ./cmd/heraldctl ./cmd/herald-bench

# `make run` builds only what it runs and what the quick start uses next:
# heraldctl's packages are a subset of herald's, so it adds one link.
.PHONY: run
run: ## Build bin/herald and bin/heraldctl, start a development server (data in ./data) with the demo page
	$(GOBUILD) ./cmd/herald ./cmd/heraldctl
	@echo "Demo page:            http://localhost:8080/"
	@echo "Send with heraldctl:  bin/heraldctl notify --user alice --title Hi"
	@echo "Send with curl:       curl -X POST localhost:8080/v1/notify -d '{\"audience\":{\"user_ids\":[\"alice\"]},\"title\":\"Hi\"}'"
	@echo "Watch a stream:       bin/heraldctl tail --user alice"
	@echo "Send through Kafka:   echo '{\"audience\":{\"user_ids\":[\"alice\"]},\"title\":\"Hi\"}' | kcat -P -b 127.0.0.1:9092 -t herald.notifications"
	bin/herald --dev --kafka-embedded --data-dir ./data

# The end-to-end tests run the binaries `make build` wrote (see
# internal/testbin) instead of each package building its own.
.PHONY: test
test: export HERALD_TEST_BIN_DIR := $(CURDIR)/bin
test: build ## Build, run all tests with the race detector, then every fuzz target for FUZZ_TIME, then sdk-test
	$(GO) test -race -count=1 ./...
	FUZZ_TIME=$(FUZZ_TIME) .ci/fuzz
	$(MAKE) sdk-test

# The browser client package (@heraldhq/client). Its dev dependencies come
# from the npm registry, as the committed package-lock.json pins them; it
# has no runtime dependencies. Without node and npm, sdk-test skips outside
# CI and fails under CI (CI set to a true value, as .ci/run does), as the Go
# tests do for their outside components.
SDK := sdk/js
NPM_CI := npm ci --no-audit --no-fund

.PHONY: sdk
sdk: ## Build sdk/js and write its bundle for the demo page, internal/web/static/herald-client.js
	cd $(SDK) && $(NPM_CI) && npm run build && npm run bundle:web

.PHONY: sdk-test
sdk-test: ## Build and test sdk/js; fail if internal/web/static/herald-client.js differs from a fresh build
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		set -x; cd $(SDK) && $(NPM_CI) && npm run build && npm test && npm run check:web; \
	elif [[ "$${CI:-}" =~ ^(1|t|T|true|TRUE|True)$$ ]]; then \
		echo "node and npm are missing (Debian packages nodejs npm), and CI must provide them" >&2; exit 1; \
	else \
		echo "SKIPPED sdk-test: node and npm are missing (Debian packages nodejs npm)"; \
	fi

# Flags of the load run in `make bench`; BENCHMARKS.md has the full runs.
BENCH_LOAD_FLAGS ?= --smoke

.PHONY: bench
bench: build ## Run the Go benchmarks, then a calibrated load run (BENCH_LOAD_FLAGS) of bin/herald
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	bin/herald-bench --herald-bin bin/herald --calibrate $(BENCH_LOAD_FLAGS)

# The protos `make lint` checks for breaking changes against: the main
# branch as committed (a branch of this clone, so it works offline and in
# CI's fresh clone). On main itself that compares the working tree with the
# last commit.
BREAKING_AGAINST ?= $(shell git rev-parse --path-format=absolute --git-common-dir)\#branch=main

.PHONY: lint
lint: tools ## Check gofmt (outside gen/), go vet, staticcheck, buf lint, buf format and buf breaking against main
	@files=$$(find . -name '*.go' -not -path './gen/*' -not -path './.*/*' -print0 | xargs -0 gofmt -l); \
		if [[ -n "$$files" ]]; then echo "not gofmt-ed:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	buf lint
	buf format -d --exit-code
	buf breaking --against '$(BREAKING_AGAINST)'

# The Go vulnerability database; a mirror (https://… or file:///…) can be
# given where vuln.go.dev is not reachable.
GOVULNDB ?= https://vuln.go.dev

.PHONY: vuln
vuln: tools ## Check the module and its dependencies against the Go vulnerability database (govulncheck)
	govulncheck -db $(GOVULNDB) ./...

.PHONY: gen
gen: tools ## Regenerate gen/ from proto/ with buf
	buf generate

.PHONY: checkgenerate
checkgenerate: gen ## Fail if gen/ differs from what buf generates
	@git diff --exit-code -- gen/ || { echo "gen/ is out of date: run make gen and commit it"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- gen/); \
		if [[ -n "$$untracked" ]]; then echo "untracked files in gen/:"; echo "$$untracked"; exit 1; fi

.PHONY: tools
tools: $(TOOLS) ## Install pinned buf, protoc plugins, grpcurl, kubeconform, govulncheck and staticcheck into .bin

.PHONY: clean
clean: ## Remove built binaries, installed tools and sdk/js's build output and node_modules (keeps ./data)
	rm -rf bin/ $(BIN)/ $(SDK)/dist/ $(SDK)/node_modules/

$(BIN)/.buf-$(BUF_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@

$(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION):
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@touch $@

$(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION):
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@touch $@

$(BIN)/.protoc-gen-grpc-gateway-$(GRPC_GATEWAY_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
	@touch $@

$(BIN)/.protoc-gen-openapiv2-$(GRPC_GATEWAY_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)
	@touch $@

$(BIN)/.grpcurl-$(GRPCURL_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
	@touch $@

$(BIN)/.govulncheck-$(GOVULNCHECK_VERSION):
	GOBIN=$(BIN) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@touch $@

$(BIN)/.staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

$(BIN)/.kubeconform-$(KUBECONFORM_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	@touch $@

# Run outside the module (cd /) so that the download touches neither go.mod
# nor go.sum.
$(BIN)/.k8s-openapi-$(K8S_OPENAPI_VERSION):
	@mkdir -p $(BIN)
	dir=$$(cd / && $(GO) mod download -json k8s.io/kubernetes@$(K8S_OPENAPI_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
		install -m 0644 "$$dir/api/openapi-spec/swagger.json" $(BIN)/kubernetes-openapi.json
	@touch $@
