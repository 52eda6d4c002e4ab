# The project's vocabulary: build, test, bench, demo, lint, up, down.
GO      ?= go
BIN     := bin
TOOLS   := $(HOME)/.cache/notestream/bin
export PATH := $(TOOLS):$(PATH)

.PHONY: build test bench demo lint up down setup

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# setup installs what the integration tests start: redis-server, kcat, MinIO.
setup:
	./scripts/setup.sh

test: setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 18m ./...

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
