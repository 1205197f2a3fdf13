#!/usr/bin/env bash
# Creates or refreshes .venv from requirements.lock and requirements-nodeps.lock; a no-op when
# it is up to date. "Up to date" means the stamp file records the same hash of the locks,
# pyproject.toml and interpreter as now. Override the interpreter with PYTHON=/path/to/python3.10.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
VENV=.venv

find_python() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
  # python3.10 on PATH may be a pyenv shim that fails when 3.10 is not the global.
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys' >/dev/null 2>&1; then
    command -v python3.10; return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local prefix
    if prefix=$(pyenv prefix 3.10 2>/dev/null) && [[ -x "$prefix/bin/python3.10" ]]; then
      echo "$prefix/bin/python3.10"; return
    fi
  fi
  echo "error: Python 3.10 not found; run: make setup PYTHON=/path/to/python3.10" >&2
  exit 1
}

PY=$(find_python)
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 10), sys.version' || {
  echo "error: $PY is not Python 3.10" >&2; exit 1; }

want=$( { cat requirements.lock requirements-nodeps.lock pyproject.toml; "$PY" -c 'import sys; print(sys.version)'; echo "uv=$UV_VERSION"; } | sha256sum | cut -d' ' -f1)
if [[ -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$want" && -x "$VENV/bin/electra-tfx" ]]; then
  exit 0
fi

echo ">> setting up $VENV with $PY (from requirements.lock and requirements-nodeps.lock)"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
rm -f "$VENV/.stamp"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
# sync removes anything not in the locks, so a stale venv converges exactly to them. sync never
# resolves or adds dependencies: requirements-nodeps.lock's packages come without theirs.
"$VENV/bin/uv" pip sync --quiet --python "$VENV/bin/python" --require-hashes \
  requirements.lock requirements-nodeps.lock
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
# uv sync removed uv itself from the venv? keep it for later refreshes.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" 2>/dev/null || true
echo "$want" > "$VENV/.stamp"
echo ">> $VENV is ready"
