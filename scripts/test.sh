#!/usr/bin/env bash
# The whole test suite: lint, types, unit, property, golden and lab tests (lab needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "== ruff"; ruff check src tests bench
echo "== mypy"; mypy
echo "== pytest"; python3 -m pytest -q "$@"
