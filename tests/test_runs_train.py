"""A training run in a worker (in this process), on the built-in digits: epochs become metrics,
frames, log lines, weights and a report."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec

from collab.templates import mlp
from server.config import load_settings
from server.connections import Connections
from server.db.tables import Model, Run, RunLog, RunMetric
from server.domain.runs import keys, worker
from server.domain.runs.schemas import RunOptions
from simcore import frames
from tests.runs import FINAL, held_by_test, start_run, wait_state
from tests.servers import ServerProcess


async def test_a_training_run_records_each_epoch(
    connections: Connections,
    services_environment: dict[str, str],
    data_dir: Path,
) -> None:
    spec = mlp("trained")
    assert spec.training is not None
    spec = msgspec.structs.replace(
        spec, training=msgspec.structs.replace(spec.training, epochs=2, batch_size=32)
    )
    model = Model(name="trained", kind="ann")
    await model.save()
    run_id = uuid.uuid4()
    options = RunOptions(device="cpu", target=None, frame_every_s=0.01, pace=None, dataset="digits")
    await Run.insert(
        Run(
            id=run_id,
            model=model.id,
            kind="train",
            state="queued",
            spec=msgspec.json.encode(spec).decode(),
            options=msgspec.json.encode(options).decode(),
            **held_by_test(),
        )
    )
    settings = load_settings({**services_environment, "SPIKEX_DATA_DIR": str(data_dir)})

    assert await worker.execute(run_id, settings) == "completed"

    row = await Run.select(Run.state, Run.progress, Run.step).where(Run.id == run_id).first()
    assert row == {"state": "completed", "progress": 1.0, "step": 2}
    losses = await RunMetric.select(RunMetric.step).where(
        (RunMetric.run == run_id) & (RunMetric.name == "loss")
    )
    assert [m["step"] for m in losses] == [1, 2]
    logs = [r["message"] for r in await RunLog.select(RunLog.message).where(RunLog.run == run_id)]
    assert logs[1].startswith("epoch 1/2: loss") and logs[-1] == "completed"
    stream = await connections.valkey.xrange(keys.frames_key(run_id))
    decoded = [frames.decode(fields[keys.FRAME_FIELD]) for _, fields in stream]
    assert [frame.header.index for frame in decoded] == [0, 1]
    assert decoded[1].header.kinds == ("metrics",) and "metrics/accuracy" in decoded[1]
    assert await connections.objects.exists(worker.weights_key(run_id))
    report = msgspec.json.decode(await connections.objects.get(worker.report_key(run_id)))
    assert report["epochs"] == 2 and len(report["confusion"]) == 10


def test_a_template_trains_on_a_built_in_dataset_through_the_api(server: ServerProcess) -> None:
    model_id = server.post("/api/models", json={"name": "mlp", "template": "mlp"}).json()["id"]
    run = start_run(server, model_id, kind="train", epochs=3, device="cpu")
    done = wait_state(server, run["id"], FINAL, timeout_s=120)
    assert done["state"] == "completed", done["error"]
    accuracy = server.get(f"/api/runs/{run['id']}/metrics", params={"name": "eval_accuracy"}).json()
    assert [m["step"] for m in accuracy] == [1, 2, 3]
    assert accuracy[-1]["value"] > 0.8  # 3 epochs of an MLP on the 8x8 digits, held-out set
