# urumi — see README.md. Every target works on a fresh machine with Go.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The image's creation time is the commit's, so that it does not change between builds of one commit.
CREATED  ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
# The CA bundle copied into the image (so that urumi can reach TLS servers
# signed by public CAs); CA_CERTS= builds without one.
CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt
export CGO_ENABLED ?= 0

.PHONY: build test cluster cluster-build lint demo bench faults completions image release-check clean

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
	$(GO) test -count=1 -timeout 30m ./...

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
	$(GO) run ./bench/scale

## faults: the fault suite five times in a row (about 15 minutes; `make test` runs it once)
FAULT_E2E = TestPostgresRestartMidJobs|TestAPIServerRestartMidInstalls|TestServeReplicasKilled|TestDeleteDuringCreateUnderLoad
FAULT_UNIT = TestStateDiskFaults|TestDiskFullMidTransaction|TestPostgresRestart
faults: cluster-build
	$(GO) test -count=5 -timeout 60m -run '$(FAULT_E2E)' ./test/e2e
	$(GO) test -count=5 -timeout 10m -run '$(FAULT_UNIT)' ./internal/cli ./internal/store

## image: dist/urumi-image.tar, an OCI image layout of the static linux binary, and its check
image:
	GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/image/linux_$(IMAGE_ARCH)/urumi ./cmd/urumi
	cd hack/image && $(GO) run . -binary $(CURDIR)/dist/image/linux_$(IMAGE_ARCH)/urumi -arch $(IMAGE_ARCH) \
	  -ca-certs '$(CA_CERTS)' -version '$(VERSION)' -revision '$(REVISION)' -created '$(CREATED)' \
	  -out $(CURDIR)/dist/urumi-image.tar
	cd hack/image && $(GO) test -count=1 -run TestImage . -args -image $(CURDIR)/dist/urumi-image.tar -version '$(VERSION)'

## release-check: a snapshot release (goreleaser), its archives, checksums, images and krew manifest checked
release-check:
	hack/release-check.sh

## completions: regenerate completions/
completions: build
	hack/completions.sh

clean:
	rm -rf bin dist
