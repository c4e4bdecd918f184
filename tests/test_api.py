"""The served app over a real socket: health, API docs, models, the web app."""

from __future__ import annotations

import re
import uuid

from tests.servers import ServerProcess


def test_health_reports_every_service_up_with_its_latency(server: ServerProcess) -> None:
    response = server.get("/api/health")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    services = {service["name"]: service for service in report["services"]}
    assert set(services) == {"postgres", "valkey", "objects"}
    for service in services.values():
        assert service["up"] is True
        assert service["error"] is None
        assert 0 < service["latency_ms"] < 2000
        assert service["embedded"] is False  # the URLs were given, nothing was embedded
    assert services["objects"]["url"].startswith("s3://")
    assert services["postgres"]["setting"] == "DATABASE_URL"


def test_openapi_schema_and_its_page_are_served(server: ServerProcess) -> None:
    schema = server.get("/api/docs/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/health", "/api/models", "/api/models/{model_id}"} <= set(paths)
    page = server.get("/api/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:src|href)="(/vendor/swagger-ui/[^"]+)"', page.text)
    assert len(assets) == 3, "Swagger UI is served by us, not fetched from a CDN"
    for asset in assets:
        assert server.get(asset).status_code == 200


def test_a_model_is_created_listed_and_read(server: ServerProcess) -> None:
    name = f"CUBA {uuid.uuid4().hex[:6]}"
    created = server.post("/api/models", json={"name": name, "kind": "snn"})
    assert created.status_code == 201
    model = created.json()
    assert model["name"] == name
    assert model["kind"] == "snn"
    assert model["owner"] is None
    assert server.get(f"/api/models/{model['id']}").json() == model
    listed = server.get("/api/models", params={"limit": 500}).json()
    assert model in listed


def test_bad_model_input_is_refused_and_changes_nothing(server: ServerProcess) -> None:
    before = len(server.get("/api/models", params={"limit": 500}).json())
    for body in (
        {"name": ""},
        {"name": "x", "kind": "rnn"},
        {"name": "x", "colour": "red"},
        {"kind": "ann"},
    ):
        response = server.post("/api/models", json=body)
        assert response.status_code == 400, body
        assert response.json()["detail"]
    assert server.post("/api/models", content=b"{not json").status_code == 400
    assert len(server.get("/api/models", params={"limit": 500}).json()) == before


def test_an_unknown_model_is_404_with_a_message(server: ServerProcess) -> None:
    missing = uuid.uuid4()
    response = server.get(f"/api/models/{missing}")
    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]
    assert server.get("/api/models/not-a-uuid").status_code in (400, 404)


def test_the_built_web_app_is_served_at_the_root(server: ServerProcess) -> None:
    page = server.get("/")
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["content-type"]
    assert "<title>SPIKE-X" in page.text
    scripts = re.findall(r'src="(/assets/[^"]+\.js)"', page.text)
    assert scripts, "the page loads its bundle"
    bundle = server.get(scripts[0])
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["content-type"]
