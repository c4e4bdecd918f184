"""Helpers of the runs tests: a small spiking model made over REST, and waiting on runs."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.servers import ServerProcess, wait_for

FINAL = ("completed", "stopped", "failed")


def held_by_test() -> dict[str, Any]:
    """The claim of a queued run row a test inserts and drives itself: no server's sweep
    takes it (an unclaimed queued run is one a server died holding)."""
    return {"claimed_by": "a test", "lease_until": datetime.now(UTC) + timedelta(days=1)}


def small_model(server: ServerProcess, rate_hz: float = 40.0) -> str:
    """A 200-neuron LIF population driven by a Poisson input ``drive``, recurrent projection
    ``pp``, spike and rate monitors; made through the documents API like a script would."""
    model = server.post("/api/models", json={"name": f"small {uuid.uuid4().hex[:6]}"}).json()
    lif = {"name": "lif", "parameters": {"tau_m": {"unit": "ms", "value": 10.0}}}
    changes = [
        {"op": "set", "path": "simulation/duration", "value": {"unit": "ms", "value": 200.0}},
        {
            "op": "set",
            "path": "populations/p",
            "value": {"size": 200, "neuron": lif, "order": 0},
        },
        {
            "op": "set",
            "path": "projections/pp",
            "value": {
                "source": "p",
                "target": "p",
                "synapse": {"name": "exp_current"},
                "connector": {"rule": "fixed_probability", "probability": 0.05},
                "weight": {"unit": "mV", "value": 0.2},
                "delay": {"unit": "ms", "value": 1.0},
                "order": 0,
            },
        },
        {
            "op": "set",
            "path": "stimuli/drive",
            "value": {
                "target": "p",
                "generator": {
                    "name": "poisson",
                    "parameters": {"rate": {"unit": "Hz", "value": rate_hz}},
                },
                "weight": {"unit": "mV", "value": 8.0},
                "order": 0,
            },
        },
        {
            "op": "set",
            "path": "monitors/spikes",
            "value": {"target": "p", "record": "spikes", "order": 0},
        },
        {
            "op": "set",
            "path": "monitors/rate",
            "value": {
                "target": "p",
                "record": "rate",
                "interval": {"unit": "ms", "value": 5.0},
                "order": 1,
            },
        },
    ]
    changed = server.post(f"/api/models/{model['id']}/changes", json=changes)
    assert changed.status_code == 200, changed.text
    assert changed.json()["errors"] == [], changed.text
    return model["id"]


def start_run(server: ServerProcess, model_id: str, **options: Any) -> dict[str, Any]:
    response = server.post(f"/api/models/{model_id}/runs", json=options)
    assert response.status_code == 201, response.text
    return response.json()


def run_of(server: ServerProcess, run_id: str) -> dict[str, Any]:
    response = server.get(f"/api/runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_state(
    server: ServerProcess, run_id: str, states: tuple[str, ...], timeout_s: float = 60
) -> dict[str, Any]:
    """The run once it is in one of ``states`` (asserting it gets there in time)."""
    run = wait_for(lambda: (r := run_of(server, run_id))["state"] in states and r, timeout_s)
    assert run, f"run {run_id} never got to {states}: {run_of(server, run_id)}"
    return run


@contextlib.contextmanager
def stopped_at_the_end(server: ServerProcess, run_id: str) -> Iterator[None]:
    """Stops the run when the block ends, however it ends: a failed test must not leave a
    run holding one of the server's workers."""
    try:
        yield
    finally:
        server.post(f"/api/runs/{run_id}/stop")
