"""Runs over REST: refused runs queue nothing; a simulation runs in a worker process to its
end, streaming frames and events through Valkey and keeping metrics, logs and its report; it
can be paused, resumed and stopped; the compute targets are listed."""

from __future__ import annotations

import time

import msgspec

from server.connections import Connections
from server.domain.runs import keys, messages
from server.domain.runs.worker import report_key
from simcore import frames
from simcore.spec import ModelSpec
from tests.runs import run_of, small_model, start_run, stopped_at_the_end, wait_state
from tests.servers import ServerProcess


def _refused(server: ServerProcess, model_id: str, **options: object) -> dict[str, object]:
    response = server.post(f"/api/models/{model_id}/runs", json=options)
    assert response.status_code == 422, response.text
    assert server.get(f"/api/models/{model_id}/runs").json() == [], "something was queued"
    return response.json()


def test_an_invalid_model_is_refused_with_its_errors_and_nothing_is_queued(
    server: ServerProcess,
) -> None:
    model_id = small_model(server)
    broken = [{"op": "set", "path": "projections/pp/target", "value": "nowhere"}]
    assert server.post(f"/api/models/{model_id}/changes", json=broken).status_code == 200
    refusal = _refused(server, model_id)
    assert {
        "path": "projections/pp/target",
        "message": "there is no population called 'nowhere'",
    } in refusal["errors"]


def test_an_unknown_dataset_or_device_is_refused_and_nothing_is_queued(
    server: ServerProcess,
) -> None:
    model_id = small_model(server)
    device = _refused(server, model_id, device="cuda:7")
    assert "no device 'cuda:7'" in str(device["detail"])
    target = _refused(server, model_id, target="the-moon")
    assert "no compute target 'the-moon'" in str(target["detail"])
    mlp = server.post("/api/models", json={"name": "mlp", "template": "mlp"}).json()["id"]
    dataset = _refused(server, mlp, kind="train", dataset="no-such-dataset")
    assert "no-such-dataset" in str(dataset["detail"])
    ann = _refused(server, mlp, kind="simulate")
    assert "spiking" in str(ann["detail"])


def test_a_missing_model_or_run_is_404(server: ServerProcess) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert server.post(f"/api/models/{missing}/runs", json={}).status_code == 404
    assert server.get(f"/api/runs/{missing}").status_code == 404
    assert server.post(f"/api/runs/{missing}/pause").status_code == 404


def test_compute_targets_list_the_local_cpu(server: ServerProcess) -> None:
    targets = server.get("/api/compute").json()
    local = next(target for target in targets if target["id"] == "local")
    assert "cpu" in local["devices"]
    assert local["resources"]["CPU"] >= 1


async def test_a_simulation_runs_to_completion_and_keeps_its_records(
    server: ServerProcess, connections: Connections
) -> None:
    model_id = small_model(server)
    run = start_run(server, model_id, seed=7, frame_every={"unit": "ms", "value": 20})
    assert run["state"] in ("queued", "running")
    done = wait_state(server, run["id"], ("completed", "failed"))
    assert done["state"] == "completed", done
    assert done["progress"] == 1.0 and done["step"] == 2000
    assert done["worker"] and done["started_at"] and done["ended_at"]
    assert [r["id"] for r in server.get(f"/api/models/{model_id}/runs").json()] == [run["id"]]

    spec = msgspec.json.decode(server.get(f"/api/runs/{run['id']}/spec").content, type=ModelSpec)
    assert spec.simulation.seed == 7  # the spec it ran with, seed included

    stream = await connections.valkey.xrange(keys.frames_key(run["id"]))
    decoded = [frames.decode(fields[keys.FRAME_FIELD]) for _, fields in stream]
    assert [frame.header.index for frame in decoded] == list(range(10))
    assert decoded[-1].header.end == 2000 and decoded[0].header.run == run["id"]
    assert sum(frame["spikes/spikes/neurons"].size for frame in decoded) > 0

    events = await connections.valkey.xrange(keys.events_key(run["id"]))
    states = [
        event.state
        for event in (messages.decode_event(fields[keys.EVENT_FIELD]) for _, fields in events)
        if isinstance(event, messages.StateChanged)
    ]
    assert states == ["running", "completed"]

    rates = server.get(f"/api/runs/{run['id']}/metrics", params={"name": "rate_hz/spikes"}).json()
    assert [m["step"] for m in rates] == [200 * (i + 1) for i in range(10)]
    assert all(m["value"] >= 0 for m in rates)
    names = {m["name"] for m in server.get(f"/api/runs/{run['id']}/metrics").json()}
    assert {"rate_hz/rate", "steps_per_s", "realtime_factor"} <= names

    logs = server.get(f"/api/runs/{run['id']}/logs").json()
    assert logs[0]["message"].startswith("started on") and logs[-1]["message"] == "completed"
    report = msgspec.json.decode(await connections.objects.get(report_key(run["id"])))
    assert report["steps"] == 2000 and report["spikes"]["spikes"] > 0


def test_a_run_pauses_resumes_and_stops(server: ServerProcess) -> None:
    model_id = small_model(server)
    # Paced at a twentieth of real time: 200 ms of biology take about 4 s.
    run = start_run(server, model_id, pace=0.05)
    with stopped_at_the_end(server, run["id"]):
        wait_state(server, run["id"], ("running",))
        assert server.post(f"/api/runs/{run['id']}/resume").status_code == 409
        paused = server.post(f"/api/runs/{run['id']}/pause")
        assert paused.status_code == 202, paused.text
        wait_state(server, run["id"], ("paused",), timeout_s=10)
        time.sleep(2.5)  # two heartbeats: the steps done before the pause are recorded
        held = run_of(server, run["id"])["step"]
        time.sleep(1.5)
        assert run_of(server, run["id"])["step"] == held  # a paused run stays where it was
        assert server.post(f"/api/runs/{run['id']}/resume").status_code == 202
        wait_state(server, run["id"], ("running", "completed"), timeout_s=10)
        assert server.post(f"/api/runs/{run['id']}/stop").status_code == 202
        stopped = wait_state(server, run["id"], ("stopped", "completed", "failed"))
        assert stopped["state"] == "stopped", stopped
        assert stopped["step"] < 2000
        assert server.post(f"/api/runs/{run['id']}/pause").status_code == 409
    logs = [line["message"] for line in server.get(f"/api/runs/{run['id']}/logs").json()]
    assert "paused" in logs and "stop requested" in logs
