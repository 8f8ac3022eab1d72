#!/bin/sh
# Static security checks of terraform/ with checkov, offline. checkov pins many packages, so it lives
# in its own virtualenv (.venv-checkov at the repository root), created on first use.
# Usage: terraform/checkov.sh [extra checkov arguments]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
venv="${CHECKOV_VENV:-$root/.venv-checkov}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/checkov" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov>=3.2,<4"
fi

cd "$root"
# Twice: with the defaults (what a plain apply creates) and with every optional resource switched on.
"$venv/bin/checkov" -d terraform --framework terraform --skip-download --compact --quiet "$@"
"$venv/bin/checkov" -d terraform --framework terraform --skip-download --compact --quiet \
    --var-file terraform/checkov.tfvars "$@"
