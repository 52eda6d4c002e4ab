# The project's vocabulary: build, test, bench, demo, lint, up, down.
GO      ?= go
BIN     := bin
TOOLS   := $(HOME)/.cache/notestream/bin
export PATH := $(TOOLS):$(PATH)

.PHONY: build test bench demo lint up down setup

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# setup installs what the integration tests start: Apache Kafka (with Java and Maven), redis-server,
# kcat, MinIO, chromium and promtool.
setup:
	./scripts/setup.sh

# RACE: the packages whose own goroutines meet (partition and checkpoint goroutines, the late
# publisher, the batch writer, S3's pipe writer, the CSV parser, the sort's spill) run under the race detector, the rest
# without it. internal/compactor is left out: 2.4x its 2 minutes (see BENCHMARKS.md, race detector).
RACE := ./internal/consumer/... ./internal/extsort/ ./internal/kwrite/ ./internal/lake/ ./internal/producer/

test: setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 18m -race $(RACE)
	$(GO) test -count=1 -timeout 18m $$($(GO) list ./... | grep -vxF "$$($(GO) list $(RACE))")

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# demo runs a year of sample data through the whole pipeline on this machine (scripts/demo.sh);
# KAFKA=apache make demo runs it on Apache Kafka instead of the embedded kfake broker.
demo:
	./scripts/demo.sh

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	$(GO) vet ./...

# up starts the real stack of docker-compose.yaml (Redpanda, Redis with AOF, MinIO, the binaries).
up:
	docker compose up -d --build

down:
	docker compose down
