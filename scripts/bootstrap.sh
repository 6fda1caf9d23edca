#!/usr/bin/env bash
# Create .venv from nothing on a fresh Debian/Ubuntu machine and install srchain into it.
# As root it installs the Debian packages it needs; otherwise it says which ones are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
DEB_PKGS=(python3-venv python3-dev gcc iproute2 ethtool)

missing=()
command -v "$PY" >/dev/null 2>&1 || missing+=(python3)
"$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v gcc >/dev/null 2>&1 || missing+=(gcc python3-dev)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v ethtool >/dev/null 2>&1 || missing+=(ethtool)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing Debian packages: ${DEB_PKGS[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${DEB_PKGS[@]}" >/dev/null
    else
        echo "bootstrap: missing system packages: ${missing[*]}" >&2
        echo "bootstrap: run as root, or: sudo apt-get install ${DEB_PKGS[*]}" >&2
        exit 1
    fi
fi

"$PY" - <<'PYCHECK'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"bootstrap: srchain needs Python >= 3.11, found {sys.version.split()[0]}")
PYCHECK

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.lock ruff==0.17.5
# the proxy's C fast path is built in place (setup.py); here a failed build fails the bootstrap, with the
# compiler's message, instead of leaving the proxy on its pure-Python loop
SRCHAIN_FASTSR=required .venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python -c 'import sys; from srchain_proxy import compiled; sys.exit(compiled.unavailable())'
touch .venv/.installed
echo "bootstrap: .venv ready; proxy $(.venv/bin/srchain-proxy --version | tail -1)"
