# urumi — see README.md. Every target works on a fresh machine with Go.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
export CGO_ENABLED ?= 0

.PHONY: build test cluster cluster-build lint demo bench completions clean

## build: the urumi binary (and its kubectl-urumi twin) in bin/
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/urumi ./cmd/urumi
	ln -sf urumi bin/kubectl-urumi

## cluster-build: build the simulated cluster's binaries (cached in ~/.cache/urumi)
cluster-build:
	hack/build-cluster.sh

## cluster: start a simulated cluster and print the KUBECONFIG line to export
cluster: cluster-build
	$(GO) run ./hack/cluster

## test: lint, then every test, against the simulated cluster and PostgreSQL
test: cluster-build lint
	$(GO) test -count=1 -timeout 20m ./...

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## demo: the main job on a simulated cluster: create, list, get and delete a store
demo: build cluster-build
	hack/demo.sh

## bench: the benchmarks under bench/, each beside its baseline (about 8 minutes)
bench: cluster-build
	hack/build-cluster.sh --with-helm
	$(GO) run ./bench/provision
	$(GO) run ./bench/list
	$(GO) run ./bench/serve

## completions: regenerate completions/
completions: build
	hack/completions.sh

clean:
	rm -rf bin
