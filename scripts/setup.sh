#!/usr/bin/env bash
# Installs the servers the integration tests start. (Placeholder: completed by the test harness work.)
set -euo pipefail
