"""SPIKE-X server: the Litestar application, its services and the ``spikex`` command."""

from importlib.metadata import version

__version__ = version("spikex")
