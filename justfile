# SPIKE-X tasks. `just run` serves the app, `just test` runs every test; both install what is
# missing first. Heavy installs are cached outside the clone (uv's cache, cargo's target dir,
# npm's cache), so only the first run on a new machine pays for them.

set shell := ["bash", "-euo", "pipefail", "-c"]

export SPIKEX_CACHE_DIR := env("SPIKEX_CACHE_DIR", env("XDG_CACHE_HOME", env("HOME") / ".cache") / "spikex")
export CARGO_TARGET_DIR := env("CARGO_TARGET_DIR", SPIKEX_CACHE_DIR / "cargo-target")
export UV_LINK_MODE := env("UV_LINK_MODE", "hardlink")
export PYTHONUNBUFFERED := "1"
# uv as a module of the system Python, where `setup` installs it if it is missing.
uv := "python3 -m uv"

# List the recipes.
default:
    @just --list

# Serve SPIKE-X on http://127.0.0.1:8000 with embedded services for any URL left unset.
run: setup
    {{ uv }} run --frozen --no-sync spikex run

# Run the whole test suite (Rust, web, Python against real services).
test *args: setup
    cargo test --package simcore --quiet
    cd web && npm test --silent
    {{ uv }} run --frozen --no-sync pytest {{ args }}

# Only the Ray executor's tests (`just test` runs them too), against a local Ray head.
test-ray *args: setup
    {{ uv }} run --frozen --no-sync pytest -m ray {{ args }}

# Start the embedded PostgreSQL and Valkey (and the local object store) alone; print their URLs.
services: setup
    {{ uv }} run --frozen --no-sync spikex services

# Run one benchmark from bench/ (e.g. `just bench cuba`; a unique prefix of its name will do:
# `just bench collab`); its last line is a JSON object.
bench name *args: setup
    #!/usr/bin/env bash
    set -euo pipefail
    script="bench/{{ name }}.py"
    if [ ! -f "$script" ]; then
        matches=(bench/{{ name }}*.py)
        if [ "${#matches[@]}" -ne 1 ] || [ ! -f "${matches[0]}" ]; then
            echo "no single benchmark named {{ name }}; there are: $(cd bench && ls *.py 2>/dev/null | sed 's/\.py$//' | tr '\n' ' ')" >&2
            exit 2
        fi
        script="${matches[0]}"
    fi
    {{ uv }} run --frozen --no-sync python "$script" {{ args }}

# ruff, cargo clippy and the TypeScript checker.
lint: setup
    {{ uv }} run --frozen --no-sync ruff check .
    {{ uv }} run --frozen --no-sync ruff format --check .
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cd web && npm run --silent typecheck

# Install what is missing: uv, the Python environment with the Rust extension, the web app.
setup: python web

# The Python environment (.venv) from uv.lock, with simcore's Rust extension built by maturin.
python:
    @python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check "uv>=0.9"
    @echo "setup: Python environment and Rust extension (uv.lock, maturin)"
    {{ uv }} sync --frozen

# The web app: npm packages from package-lock.json, then the production bundle in web/dist.
web:
    @echo "setup: web app (npm ci, vite build)"
    cd web && if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --prefer-offline --no-audit --no-fund; fi
    cd web && npm run --silent build
