"""Where the benchmarks keep their peers: each in its own environment under the cache folder
(``SPIKEX_CACHE_DIR``, as the justfile sets it), made on first use."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spikex"
    return Path(os.environ.get("SPIKEX_CACHE_DIR", default))


def peer_python(
    folder: str,
    label: str,
    probe: str,
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> Path:
    """The Python of the virtual environment ``folder`` of the cache, where ``probe`` (an
    import statement) works; made once with uv from the ``required`` packages, then each of
    the ``optional`` ones, which may fail to install."""
    env = cache_dir() / folder
    python = env / "bin" / "python"
    check = [str(python), "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    print(f"setting up {label} in {env} (once)", file=sys.stderr, flush=True)
    uv = [sys.executable, "-m", "uv"]
    if subprocess.run([*uv, "--version"], capture_output=True, check=False).returncode != 0:
        uv = ["python3", "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", str(env)], check=True)
    install = [*uv, "pip", "install", "--quiet", "--python", str(python)]
    subprocess.run([*install, *required], check=True)
    for package in optional:
        subprocess.run([*install, *required[:1], package], check=False)
    return python
