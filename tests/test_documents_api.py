"""Models made from templates, and ``GET /api/models/{id}/spec``: the spec, or the errors."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from collab.schema import roots
from collab.templates import TEMPLATES, empty
from simcore.spec import ModelSpec
from tests.doc_clients import editor, eventually
from tests.servers import ServerProcess


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_a_model_made_from_a_template_reads_back_as_that_template(
    server: ServerProcess, template: str
) -> None:
    name = f"{template} {uuid.uuid4().hex[:6]}"
    created = server.post("/api/models", json={"name": name, "template": template})
    assert created.status_code == 201, created.text
    expected = TEMPLATES[template](name)  # type: ignore[index]
    assert created.json()["kind"] == expected.kind
    response = server.get(f"/api/models/{created.json()['id']}/spec")
    assert response.status_code == 200, response.text
    assert msgspec.json.decode(response.content, type=ModelSpec) == expected


def test_a_model_without_a_template_is_an_empty_model_of_its_kind(server: ServerProcess) -> None:
    created = server.post("/api/models", json={"name": "blank", "kind": "ann"}).json()
    spec = server.get(f"/api/models/{created['id']}/spec")
    assert msgspec.json.decode(spec.content, type=ModelSpec) == empty("blank", "ann")


def test_a_template_of_another_kind_is_refused_and_nothing_is_made(server: ServerProcess) -> None:
    before = len(server.get("/api/models", params={"limit": 500}).json())
    response = server.post(
        "/api/models", json={"name": "mismatch", "kind": "snn", "template": "perceptron"}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "the perceptron template makes an ann model, not an snn one"
    assert server.post("/api/models", json={"name": "x", "template": "hopfield"}).status_code == 400
    assert len(server.get("/api/models", params={"limit": 500}).json()) == before


async def test_a_broken_document_reads_as_its_errors_with_their_paths(
    server: ServerProcess,
) -> None:
    model = server.post("/api/models", json={"name": "broken", "template": "cuba"}).json()["id"]
    async with editor(server.url, model) as doc:
        roots(doc)["populations"]["exc"]["size"] = 0
        roots(doc)["projections"]["ie"]["source"] = "nowhere"

        def reads_as(errors: list[dict[str, str]]) -> bool:
            response = server.get(f"/api/models/{model}/spec")
            return response.status_code == 422 and response.json() == errors

        # What the types say first; what needs the whole model (simcore.spec.check) after.
        await eventually(
            lambda: reads_as(
                [{"path": "populations/exc/size", "message": "should be at least 1, not 0"}]
            )
        )
        roots(doc)["populations"]["exc"]["size"] = 3200
        await eventually(
            lambda: reads_as(
                [
                    {
                        "path": "projections/ie/source",
                        "message": "there is no population called 'nowhere'",
                    }
                ]
            )
        )


def test_the_spec_of_an_unknown_model_is_404(server: ServerProcess) -> None:
    missing = uuid.uuid4()
    response = server.get(f"/api/models/{missing}/spec")
    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]


def test_the_spec_route_and_the_template_field_are_in_the_api_schema(
    server: ServerProcess,
) -> None:
    schema = server.get("/api/docs/openapi.json").json()
    assert "/api/models/{model_id}/spec" in schema["paths"]
    template = schema["components"]["schemas"]["ModelCreate"]["properties"]["template"]
    assert set(template["enum"]) == {*TEMPLATES, None}
