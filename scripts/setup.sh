#!/usr/bin/env bash
# setup.sh installs what the integration tests start, when it is missing: redis-server and kcat with
# apt-get, MinIO with go install and Apache Kafka's jars with Maven into the tool cache. Idempotent;
# `make test` runs it first.
set -euo pipefail

TOOLS="$HOME/.cache/notestream/bin"
KAFKA_HOME="$HOME/.cache/notestream/kafka-4.4.0"
MINIO_MODULE=github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c

say() { echo "setup: $*" >&2; }

# --- redis-server, kcat, and Java and Maven for Apache Kafka (apt) -----------------------------------
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v kcat >/dev/null || missing+=(kcat)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
[ -x /usr/bin/time ] || missing+=(time) # GNU time: the producer's peak-RSS test
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

# --- Apache Kafka 4.4.0 (Maven Central jars, about 10 s warm, 1 minute cold) -------------------------
if [ ! -f "$KAFKA_HOME/.complete" ]; then
	mkdir -p "$KAFKA_HOME"
	exec 9>"$KAFKA_HOME/.lock"
	flock 9
	if [ ! -f "$KAFKA_HOME/.complete" ]; then
		say "installing Apache Kafka 4.4.0 jars into $KAFKA_HOME (mvn dependency:copy-dependencies)"
		here=$(cd "$(dirname "$0")" && pwd)
		rm -rf "$KAFKA_HOME/libs"
		mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
			-DoutputDirectory="$KAFKA_HOME/libs" -DincludeScope=runtime
		cp "$here/kafka/log4j2.properties" "$KAFKA_HOME/"
		touch "$KAFKA_HOME/.complete"
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

say "ready: redis-server $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p'), kcat $(kcat -V | sed -n 's/^Version \([^ ]*\).*/\1/p'), minio $("$TOOLS/minio" --version | sed -n 's/^minio version \([^ ]*\).*/\1/p'), kafka $(ls "$KAFKA_HOME/libs" | sed -n 's/^kafka_2.13-\(.*\)\.jar$/\1/p'), $(chromium --version 2>/dev/null)"
