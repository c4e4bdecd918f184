"""simcore: the SPIKE-X engine (Rust core via ``simcore._native``, Torch path beside it)."""

from simcore._native import ENGINE_VERSION

__all__ = ["ENGINE_VERSION"]
