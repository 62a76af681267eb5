#!/usr/bin/env bash
# Install, then run the guided tour: real NAT labs, each failure reproduced and diagnosed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec ftptrace lab demo "$@"
