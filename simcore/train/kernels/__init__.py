"""Triton kernels of the training path (imported lazily: Triton is optional on a CPU host)."""
