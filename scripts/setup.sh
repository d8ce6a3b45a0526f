#!/usr/bin/env bash
# Installs everything neurocc needs on a Debian machine, idempotently:
# Debian packages (only those missing), a virtual environment in .venv, torch 2.13.0 (CPU build) before anything
# that depends on torch, then neurocc itself with its test extras. Sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(dataset-fashion-mnist ngspice libngspice0 verilator yosys nextpnr-ice40 fpga-icestorm)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c "import venv, ensurepip" 2>/dev/null; then
  echo "setup: $python lacks venv/ensurepip: apt-get install python3-venv" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing torch==2.13.0 (CPU build)" >&2
  .venv/bin/pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
fi
.venv/bin/pip install -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import compiler.cli, torch" # fails loudly if the install did not work
export PATH="$PWD/.venv/bin:$PATH"
