#!/usr/bin/env bash
# setup.sh installs what the integration tests start, when it is missing: redis-server and kcat with
# apt-get, MinIO with go install into the tool cache. Idempotent; `make test` runs it first.
set -euo pipefail

TOOLS="$HOME/.cache/notestream/bin"
MINIO_MODULE=github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c

say() { echo "setup: $*" >&2; }

# --- redis-server, kcat (apt) -----------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v kcat >/dev/null || missing+=(kcat)
if ((${#missing[@]})); then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	say "installing ${missing[*]} with apt-get"
	# Wait for another apt (unattended upgrades, a parallel setup) instead of failing on its lock.
	apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq)
	"${apt[@]}" update
	"${apt[@]}" install -y --no-install-recommends "${missing[@]}"
fi

# --- MinIO (go install, about 2.5 minutes cold) -------------------------------------------------------
mkdir -p "$TOOLS"
if [ ! -x "$TOOLS/minio" ]; then
	# One install at a time: a second `make test` waits for the first instead of building again.
	exec 9>"$TOOLS/.minio.lock"
	flock 9
	if [ ! -x "$TOOLS/minio" ]; then
		say "building MinIO into $TOOLS (go install $MINIO_MODULE)"
		GOBIN="$TOOLS" go install "$MINIO_MODULE"
	fi
	exec 9>&-
fi

# --- chromium (apt) for the report's browser test ----------------------------------------------------
if ! command -v chromium >/dev/null; then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	say "installing chromium with apt-get"
	apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq)
	"${apt[@]}" update
	"${apt[@]}" install -y --no-install-recommends chromium fonts-dejavu-core
fi

# --- promtool (apt, Debian package prometheus) for the alert rules' test --------------------------------
if ! command -v promtool >/dev/null; then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	say "installing prometheus (for promtool) with apt-get"
	apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq)
	"${apt[@]}" update
	"${apt[@]}" install -y --no-install-recommends prometheus
fi

say "ready: redis-server $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p'), kcat $(kcat -V | sed -n 's/^Version \([^ ]*\).*/\1/p'), minio $("$TOOLS/minio" --version | sed -n 's/^minio version \([^ ]*\).*/\1/p'), $(chromium --version 2>/dev/null)"
