#!/usr/bin/env bash
# Runs the whole test suite (slow whole-data-set checks included) after installing what it needs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec python -m pytest -q "$@"
