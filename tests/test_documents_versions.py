"""Named versions: kept apart from compaction, read as a spec, and restored as one new change
that connected editors see at once, with nothing before it lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pycrdt import Doc, Text

from collab.schema import roots
from tests.doc_clients import editor, eventually, log_rows
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def compacting_server(
    tmp_path_factory: pytest.TempPathFactory, services_environment: dict[str, str]
) -> Iterator[ServerProcess]:
    """A server that folds the log into a snapshot after every 3 updates."""
    process = ServerProcess(
        tmp_path_factory.mktemp("versions") / "data",
        {**services_environment, "SPIKEX_DOC_COMPACT_UPDATES": "3"},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def new_model(server: ServerProcess) -> str:
    response = server.post("/api/models", json={"name": "versions", "template": "cuba"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def content(doc: Doc) -> dict[str, object]:
    return {
        name: str(root) if isinstance(root, Text) else root.to_py()
        for name, root in roots(doc).items()
    }


def keep(server: ServerProcess, model: str, name: str) -> dict[str, object]:
    response = server.post(f"/api/models/{model}/versions", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_restore_is_seen_live_and_loses_nothing(
    compacting_server: ServerProcess, services_environment: dict[str, str]
) -> None:
    server, model = compacting_server, new_model(compacting_server)
    async with editor(server.url, model) as doc, editor(server.url, model) as watcher:
        notes = roots(doc)["notes"]
        assert isinstance(notes, Text)
        notes += "first draft"
        await eventually(lambda: content(watcher) == content(doc))  # the server has it
        first = keep(server, model, " first ")
        assert (first["name"], first["model"]) == ("first", model)
        at_first = content(doc)

        # Many changes after it: the log is compacted several times over.
        for size in range(10, 20):
            roots(doc)["populations"]["exc"]["size"] = size
        notes.insert(0, "second: ")
        del roots(doc)["projections"]["ee"]
        await eventually(lambda: content(watcher) == content(doc))
        second = keep(server, model, "second")
        at_second = content(doc)
        assert await log_rows(services_environment["DATABASE_URL"], model) < 3

        listed = server.get(f"/api/models/{model}/versions").json()
        assert [version["id"] for version in listed] == [second["id"], first["id"]]
        spec = server.get(f"/api/models/{model}/versions/{first['id']}")
        assert spec.status_code == 200, spec.text
        assert spec.json()["populations"][0]["size"] == 3200
        assert [p["id"] for p in spec.json()["projections"]] == ["ee", "ei", "ie", "ii"]

        restored = server.post(f"/api/models/{model}/versions/{first['id']}/restore")
        assert restored.status_code == 200, restored.text
        assert restored.json()["spec"] == spec.json()
        await eventually(lambda: content(doc) == at_first)  # the editor saw it live

        # The history still has everything: the later version comes back too.
        server.post(f"/api/models/{model}/versions/{second['id']}/restore")
        await eventually(lambda: content(doc) == at_second)
    assert server.get(f"/api/models/{model}/spec").json()["populations"][0]["size"] == 19


async def test_a_restore_of_the_notes_brings_back_the_versions_text(
    server: ServerProcess,
) -> None:
    model = new_model(server)
    async with editor(server.url, model) as doc, editor(server.url, model) as watcher:
        notes = roots(doc)["notes"]
        assert isinstance(notes, Text)
        notes += "alpha beta gamma"
        await eventually(lambda: content(watcher) == content(doc))
        version = keep(server, model, "greek")
        notes.insert(len("alpha "), "BETA ")
        await eventually(lambda: content(watcher) == content(doc))
        response = server.post(f"/api/models/{model}/versions/{version['id']}/restore")
        assert response.status_code == 200
        await eventually(lambda: str(notes) == "alpha beta gamma")


def test_unknown_versions_and_bad_names_are_refused(server: ServerProcess) -> None:
    model = new_model(server)
    missing = uuid.uuid4()
    for response in (
        server.get(f"/api/models/{model}/versions/{missing}"),
        server.post(f"/api/models/{model}/versions/{missing}/restore"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == f"model {model} has no version {missing}"
    other = new_model(server)
    version = keep(server, other, "elsewhere")["id"]
    assert server.get(f"/api/models/{model}/versions/{version}").status_code == 404
    assert server.post(f"/api/models/{model}/versions", json={"name": ""}).status_code == 400
    assert server.get(f"/api/models/{uuid.uuid4()}/versions").status_code == 404
    assert server.get(f"/api/models/{model}/versions").json() == []
