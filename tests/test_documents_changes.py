"""``POST /api/models/{id}/changes``: a script's operations applied as one change through the
live room (editors see it at once), stored before the answer; a bad one changes nothing."""

from __future__ import annotations

import uuid

import pytest

from collab.schema import roots
from tests.doc_clients import editor, eventually, log_rows
from tests.servers import ServerProcess


def new_model(server: ServerProcess, template: str = "cuba") -> str:
    response = server.post("/api/models", json={"name": "changes", "template": template})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def postgres_url(services_environment: dict[str, str]) -> str:
    return services_environment["DATABASE_URL"]


def change(server: ServerProcess, model: str, *ops: dict[str, object]):  # type: ignore[no-untyped-def]
    return server.post(f"/api/models/{model}/changes", json=list(ops))


async def test_a_change_is_one_stored_update_that_a_connected_editor_sees_at_once(
    server: ServerProcess, postgres_url: str
) -> None:
    model = new_model(server)
    async with editor(server.url, model) as doc:
        before = await log_rows(postgres_url, model)
        response = change(
            server,
            model,
            {"op": "set", "path": "populations/exc/size", "value": 400},
            {"op": "set", "path": "populations/exc/neuron/parameters/tau_m/value", "value": 15},
            {"op": "delete", "path": "projections/ii"},
            {"op": "insert", "path": "notes/0", "value": "scripted"},
        )
        assert response.status_code == 200, response.text
        # Stored before the answer, as one update.
        assert await log_rows(postgres_url, model) == before + 1
        spec = response.json()["spec"]
        assert response.json()["errors"] == []
        exc = spec["populations"][0]
        assert (exc["id"], exc["size"]) == ("exc", 400)
        assert exc["neuron"]["parameters"]["tau_m"] == {"unit": "ms", "value": 15.0}
        assert [p["id"] for p in spec["projections"]] == ["ee", "ei", "ie"]

        populations = roots(doc)["populations"]
        await eventually(lambda: populations["exc"]["size"] == 400)
        assert "ii" not in roots(doc)["projections"]
        assert str(roots(doc)["notes"]) == "scripted"
    assert server.get(f"/api/models/{model}/spec").json()["populations"][0]["size"] == 400


def test_lists_are_reached_by_index_or_id_and_a_broken_result_answers_its_errors(
    server: ServerProcess,
) -> None:
    model = new_model(server, "mlp")
    response = change(
        server,
        model,
        {"op": "set", "path": "layers/hidden1/parameters/out_features", "value": 32},
        {"op": "set", "path": "layers/hidden2/parameters/in_features", "value": 32},
        {"op": "insert", "path": "layers/-", "value": {"id": "soft", "kind": "softmax"}},
        {"op": "delete", "path": "layers/0"},
    )
    assert response.status_code == 200, response.text
    layers = response.json()["spec"]["layers"]
    ids = [layer["id"] for layer in layers]
    assert ids == ["hidden1", "relu1", "hidden2", "relu2", "output", "soft"]
    assert layers[-1] == {**layers[-1], "id": "soft", "kind": "softmax"}
    assert layers[0]["parameters"]["out_features"] == 32

    broken = change(server, model, {"op": "set", "path": "training/epochs", "value": 0})
    assert broken.status_code == 200, broken.text
    assert broken.json()["spec"] is None
    assert broken.json()["errors"] == [
        {"path": "training/epochs", "message": "should be at least 1, not 0"}
    ]


BAD = {
    "unknown root": (
        [{"op": "set", "path": "neurons/exc", "value": 1}],
        "change 0 (set neurons/exc): 'neurons' is not a part of a model document",
    ),
    "missing item": (
        [{"op": "set", "path": "populations/nowhere/size", "value": 1}],
        "change 0 (set populations/nowhere/size): there is no populations/nowhere",
    ),
    "delete of nothing": (
        [{"op": "delete", "path": "populations/exc/colour"}],
        "change 0 (delete populations/exc/colour): populations/exc has no 'colour' to delete",
    ),
    "into a single value": (
        [{"op": "set", "path": "populations/exc/position/0", "value": 2}],
        "populations/exc/position is a single value (a list): set it whole",
    ),
    "insert into a map": (
        [{"op": "insert", "path": "populations/exc/size", "value": 2}],
        "populations/exc is a map: insert is for lists and text, use set",
    ),
    "the last of several": (
        [
            {"op": "set", "path": "populations/exc/size", "value": 10},
            {"op": "delete", "path": "monitors/exc_spikes"},
            {"op": "set", "path": "layers/7", "value": {}},
        ],
        "change 2 (set layers/7): layers has 0 items, so no item 7",
    ),
    "unknown op": ([{"op": "move", "path": "populations/exc"}], "Invalid value 'move'"),
    "missing value": ([{"op": "set", "path": "meta/name"}], "missing required field `value`"),
}


@pytest.mark.parametrize("ops, message", BAD.values(), ids=list(BAD))
async def test_a_change_that_cannot_be_made_is_422_and_changes_nothing(
    server: ServerProcess, postgres_url: str, ops: list[dict[str, object]], message: str
) -> None:
    model = new_model(server)
    spec = server.get(f"/api/models/{model}/spec").json()
    before = await log_rows(postgres_url, model)
    response = change(server, model, *ops)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"], response.json()
    assert await log_rows(postgres_url, model) == before
    assert server.get(f"/api/models/{model}/spec").json() == spec


def test_a_change_to_an_unknown_model_is_404(server: ServerProcess) -> None:
    missing = uuid.uuid4()
    response = change(server, str(missing), {"op": "set", "path": "meta/name", "value": "x"})
    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]
