"""Live steering: edits of whitelisted parameters in a model's document reach its running
simulation at the next chunk, and the frame says from which step they apply."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import valkey

from collab.templates import cuba
from server.domain.runs import keys
from server.domain.runs.messages import Steer
from server.domain.runs.steering import steering
from simcore import frames
from simcore.spec import Component, Stimulus, Value
from tests.runs import small_model, start_run, stopped_at_the_end, wait_state
from tests.servers import ServerProcess, wait_for


def _with_drive(rate: Value) -> Any:
    spec = cuba("steered")
    drive = Stimulus(
        "drive",
        "exc",
        Component("poisson", parameters={"rate": rate}),
        weight=Value(unit="mV", value=1.0),
    )
    return msgspec.structs.replace(spec, stimuli=(drive,))


def _projection_weight(spec: Any, projection: str, value: float) -> Any:
    projections = tuple(
        msgspec.structs.replace(p, weight=Value(unit=p.weight.unit, value=value))
        if p.id == projection
        else p
        for p in spec.projections
    )
    return msgspec.structs.replace(spec, projections=projections)


def test_whitelisted_edits_become_steering_commands_in_si_units() -> None:
    frozen = _with_drive(Value(unit="Hz", value=10.0))
    faster = _with_drive(Value(unit="kHz", value=0.02))
    assert steering(frozen, frozen, faster) == [Steer("rate", "drive", 20.0)]
    ee = next(p for p in frozen.projections if p.id == "ee")
    doubled = _projection_weight(frozen, "ee", 2 * ee.weight.value)
    (command,) = steering(frozen, frozen, doubled)
    assert command.kind == "weight_scale" and command.target == "ee"
    assert abs(command.value - 2.0) < 1e-12
    # Scales are against the weights the run started with, not the last edit.
    tripled = _projection_weight(doubled, "ee", 3 * ee.weight.value)
    (again,) = steering(frozen, doubled, tripled)
    assert abs(again.value - 3.0) < 1e-12


def test_other_edits_wait_for_the_next_run() -> None:
    frozen = _with_drive(Value(unit="Hz", value=10.0))
    renamed = msgspec.structs.replace(frozen, description="another")
    assert steering(frozen, frozen, renamed) == []
    drawn = _with_drive(Value(unit="Hz", uniform=(5.0, 15.0)))  # not a fixed value
    assert steering(frozen, frozen, drawn) == []
    unchanged = steering(frozen, frozen, frozen)
    assert unchanged == []


SILENT = 500
"""Steps after the input stops by which the population has fallen silent."""


def _frames_after(client: valkey.Valkey, run_id: str) -> list[frames.Decoded]:
    return [
        frames.decode(fields[keys.FRAME_FIELD])
        for _, fields in client.xrange(keys.frames_key(run_id))
    ]


def test_an_edit_of_the_document_reaches_the_running_simulation(
    server: ServerProcess, services_environment: dict[str, str]
) -> None:
    _an_edit_reaches_the_run(server, server, services_environment)


def test_an_edit_made_on_another_server_reaches_the_running_simulation(
    server: ServerProcess, services_environment: dict[str, str], tmp_path: Path
) -> None:
    other = ServerProcess(tmp_path / "other", services_environment).start()
    try:
        _an_edit_reaches_the_run(server, other, services_environment)
    finally:
        other.stop()


def test_an_edit_made_while_the_document_is_unloaded_still_reaches_the_run(
    services_environment: dict[str, str], tmp_path: Path
) -> None:
    # Rooms without peers unload almost at once: the edit lands while the server that
    # steers the run does not hold the document, and is in the state it loads again.
    environ = {**services_environment, "SPIKEX_DOC_UNLOAD_IDLE_S": "0.1"}
    unloading = ServerProcess(tmp_path / "unloading", environ).start()
    try:
        _an_edit_reaches_the_run(unloading, unloading, services_environment)
    finally:
        unloading.stop()


def _an_edit_reaches_the_run(
    server: ServerProcess, editor: ServerProcess, services_environment: dict[str, str]
) -> None:
    """A run started on ``server``, the edit sent to ``editor`` (which may be another). The
    run is long (80 s of wall time at its pace) and stopped once the frames from SILENT steps
    after the edit have streamed: however slowly the edit travels, it lands inside the run."""
    model_id = small_model(server, rate_hz=80.0)
    client = valkey.Valkey.from_url(services_environment["VALKEY_URL"])

    def steered_and_silent() -> bool:
        decoded = _frames_after(client, run["id"])
        starts = [f.header.start for f in decoded if f.header.changes]
        return bool(starts) and decoded[-1].header.end >= starts[0] + SILENT + 100

    try:
        run = start_run(server, model_id, pace=0.05, duration={"unit": "ms", "value": 4000})
        with stopped_at_the_end(server, run["id"]):
            # Once it has streamed a little, so there is a "before" to compare with.
            assert wait_for(lambda: client.xlen(keys.frames_key(run["id"])) >= 3, 60)
            edit = [
                {"op": "set", "path": "stimuli/drive/generator/parameters/rate/value", "value": 0}
            ]
            assert editor.post(f"/api/models/{model_id}/changes", json=edit).status_code == 200
            assert wait_for(steered_and_silent, 60)
        done = wait_state(server, run["id"], ("stopped", "completed", "failed"), timeout_s=60)
        assert done["state"] == "stopped", done
        decoded = _frames_after(client, run["id"])
    finally:
        client.close()
    steered = [frame for frame in decoded if frame.header.changes]
    assert len(steered) == 1, [frame.header for frame in steered]
    header = steered[0].header
    assert header.applies_from == header.start
    (change,) = header.changes
    assert (change.kind, change.target, change.value, change.step) == (
        "rate",
        "drive",
        0.0,
        header.start,
    )
    before = [f for f in decoded if f.header.end <= header.start]
    # Past the input's last spikes and the membrane's memory, the population is silent.
    after = [f for f in decoded if f.header.start >= header.start + SILENT]
    assert before and after
    assert sum(f["spikes/spikes/neurons"].size for f in before) > 0
    assert sum(f["spikes/spikes/neurons"].size for f in after) == 0
    logs = [line["message"] for line in server.get(f"/api/runs/{run['id']}/logs").json()]
    assert f"rate of drive = 0.0 from step {header.start}" in logs


def test_steering_over_rest_and_a_bad_target_is_logged(server: ServerProcess) -> None:
    model_id = small_model(server)
    run = start_run(server, model_id, pace=0.05)
    with stopped_at_the_end(server, run["id"]):
        _steer_and_read_the_log(server, run["id"])
    wait_state(server, run["id"], ("stopped", "completed"))


def _steer_and_read_the_log(server: ServerProcess, run_id: str) -> None:
    wait_state(server, run_id, ("running",))
    changes = {
        "changes": [
            {"type": "steer", "kind": "weight_scale", "target": "pp", "value": 2.0},
            {"type": "steer", "kind": "rate", "target": "nowhere", "value": 1.0},
        ]
    }
    assert server.post(f"/api/runs/{run_id}/steer", json=changes).status_code == 202
    deadline = time.monotonic() + 20
    logs: list[str] = []
    while time.monotonic() < deadline:
        logs = [line["message"] for line in server.get(f"/api/runs/{run_id}/logs").json()]
        if any("weight_scale of pp = 2.0" in m for m in logs) and any("nowhere" in m for m in logs):
            break
        time.sleep(0.2)
    assert any(m.startswith("weight_scale of pp = 2.0 from step") for m in logs), logs
    assert any("could not set the rate of nowhere" in m for m in logs), logs
