"""Run frames for viewers: the per-process fan-out of a run's frame stream, per-viewer
downsampling, the recording a worker stores for replay, and ``/ws/runs/{run_id}/frames``."""
