#!/usr/bin/env bash
# Runs the checks and the whole test suite (slow whole-data-set checks included) after installing what it needs:
# ruff (lint) and mypy (types) on the packages, configured in pyproject.toml, then pytest. Arguments go to pytest
# (e.g. -m "not slow" for the quick tier).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check .
mypy
exec python -m pytest -q "$@"
