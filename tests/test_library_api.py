"""The component library over a real server: search, component pages, and a contribution
from upload to review, signed in with API keys made by ``spikex users create``."""

from __future__ import annotations

import io
import json
import subprocess
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest

from library.loader import ROOT
from tests.servers import ServerProcess, clean_environment, spikex_command


def create_user(
    server: ServerProcess, services_environment: dict[str, str], name: str, *flags: str
) -> str:
    """A new user's API key, from the command line, as an operator makes one."""
    done = subprocess.run(
        spikex_command("users", "create", name, *flags),
        env=clean_environment(**services_environment, SPIKEX_DATA_DIR=str(server.data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert key.startswith("spx_")
    return key


@pytest.fixture(scope="module")
def keys(server: ServerProcess, services_environment: dict[str, str]) -> dict[str, str]:
    token = uuid.uuid4().hex[:8]
    return {
        "user": create_user(server, services_environment, f"ada-{token}"),
        "reviewer": create_user(server, services_environment, f"rev-{token}", "--reviewer"),
    }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def contribute(server: ServerProcess, key: str, files: object) -> httpx.Response:
    """Uploads a component; its checks run in a separate process, which takes a while."""
    return httpx.post(
        f"{server.url}/api/library/contributions", files=files, headers=auth(key), timeout=180
    )


def search(server: ServerProcess, **params: object) -> list[dict[str, object]]:
    response = server.get("/api/library/components", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_repository_library_is_synced_at_start_up_and_searchable(
    server: ServerProcess,
) -> None:
    everything = search(server)
    names = {(hit["kind"], hit["name"]) for hit in everything}
    assert {("neuron", "lif"), ("synapse", "alpha_current"), ("layer", "conv2d")} <= names
    assert len(everything) >= 37
    # words from a summary or description, stemmed; ranked; filtered by kind and tags
    hits = search(server, q="adaptation current exponential")
    assert hits[0]["name"] == "adex"
    assert {hit["name"] for hit in search(server, q="spike timing", kind="plasticity")} == {
        "stdp",
        "triplet_stdp",
    }
    hits = search(server, q="Izhikevich")
    assert hits[0]["name"] == "izhikevich"
    assert {hit["name"] for hit in search(server, tag=["conductance_based"], kind="synapse")} == {
        "exp_conductance",
        "alpha_conductance",
    }
    both = search(server, tag=["ann", "squashing"])
    assert {hit["name"] for hit in both} == {"sigmoid", "tanh"}
    assert search(server, q="xylophone") == []
    only = {hit["name"]: hit for hit in search(server, kind="neuron")}
    assert only["hodgkin_huxley"]["reference_only"] is True
    assert only["lif"]["reference_only"] is False


def test_sync_by_hand_finds_nothing_to_do_and_the_start_up_sync_was_logged(
    server: ServerProcess, services_environment: dict[str, str]
) -> None:
    assert "library sync: done" in server.output()
    done = subprocess.run(
        spikex_command("library", "sync"),
        env=clean_environment(**services_environment, SPIKEX_DATA_DIR=str(server.data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["created"], report["changed"], report["withdrawn"]) == ([], [], [])
    assert report["unchanged"] >= 37
    assert "library sync: done" in done.stdout + done.stderr


def test_a_component_page_has_markdown_math_and_versions(server: ServerProcess) -> None:
    page = server.get("/api/library/components/neuron/adex").json()
    assert page["version"] == page["latest"] == "1.0.0"
    assert page["description"].startswith("# Adaptive exponential")
    assert page["math"][0]["delimited"].startswith("$$\n") and "\\Delta_T" in page["math_source"]
    parameters = {p["name"]: p for p in page["definition"]["parameters"]}
    assert parameters["tau_w"]["unit"] == "ms" and parameters["tau_w"]["default"] == 30.0
    assert page["definition"]["references"][0]["doi"] == "10.1152/jn.00686.2005"
    assert [v["version"] for v in page["versions"]] == ["1.0.0"]
    assert "reference.py" in page["files"]
    code = server.get("/api/library/components/neuron/adex/versions/1.0.0/files/reference.py")
    assert code.status_code == 200
    assert code.content == (ROOT / "neurons" / "adex" / "reference.py").read_bytes()
    assert server.get("/api/library/components/neuron/nope").status_code == 404
    missing = server.get("/api/library/components/neuron/adex/versions/1.0.0/files/x.py")
    assert missing.status_code == 404


def zipped(folder: Path, change: dict[str, tuple[str, str]] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                text = path.read_bytes()
                for old, new in [(change or {}).get(path.name, (None, None))]:
                    if old is not None:
                        assert old.encode() in text
                        text = text.replace(old.encode(), new.encode())
                archive.writestr(f"{folder.name}/{path.name}", text)
    return buffer.getvalue()


def test_contributing_needs_a_valid_key(server: ServerProcess, keys: dict[str, str]) -> None:
    files = {"archive": ("lif.zip", zipped(ROOT / "neurons" / "lif"), "application/zip")}
    assert server.post("/api/library/contributions", files=files).status_code == 401
    bad = server.post("/api/library/contributions", files=files, headers=auth("spx_nope"))
    assert bad.status_code == 401
    assert "not valid" in bad.json()["detail"]


def test_a_contribution_flows_from_upload_to_approval(
    server: ServerProcess, keys: dict[str, str]
) -> None:
    version = f"1.{uuid.uuid4().int % 10_000 + 1}.0"
    change = {
        "component.toml": ('version = "1.0.0"', f'version = "{version}"'),
        "description.md": ("Things to try", "A contributed explanation. Things to try"),
    }
    upload = {"archive": ("lif.zip", zipped(ROOT / "neurons" / "lif", change), "application/zip")}
    created = contribute(server, keys["user"], upload)
    assert created.status_code == 201, created.text
    contribution = created.json()
    assert contribution["status"] == "pending" and contribution["version"] == version
    # not offered while pending
    page = server.get("/api/library/components/neuron/lif").json()
    assert version not in [v["version"] for v in page["versions"]]
    # the same version twice is a conflict
    again = contribute(server, keys["user"], upload)
    assert again.status_code == 409
    # only reviewers review
    path = f"/api/library/contributions/{contribution['id']}/review"
    decision = {"decision": "approve", "comment": "checked against Brian2"}
    assert server.post(path, json=decision).status_code == 401
    assert server.post(path, json=decision, headers=auth(keys["user"])).status_code == 403
    pending = httpx.get(
        f"{server.url}/api/library/contributions",
        params={"status": "pending"},
        headers=auth(keys["reviewer"]),
        timeout=10,
    ).json()
    assert contribution["id"] in [item["id"] for item in pending]
    approved = server.post(path, json=decision, headers=auth(keys["reviewer"]))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["review_comment"] == "checked against Brian2"
    assert server.post(path, json=decision, headers=auth(keys["reviewer"])).status_code == 409
    page = server.get("/api/library/components/neuron/lif").json()
    assert version in [v["version"] for v in page["versions"]]
    pinned = server.get(f"/api/library/components/neuron/lif/versions/{version}").json()
    assert "A contributed explanation" in pinned["description"]


def test_a_rejected_contribution_is_never_offered(
    server: ServerProcess, keys: dict[str, str]
) -> None:
    name = f"lif_{uuid.uuid4().hex[:6]}"
    folder = ROOT / "neurons" / "lif"
    # a new component the engine does not implement: reference only
    renamed = {b'name = "lif"': f'name = "{name}"'.encode(), b'"rust"': b'"none"'}
    files = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            data = path.read_bytes()
            for old, new in renamed.items():
                data = data.replace(old, new)
            files.append(("files", (path.name, data)))
    created = contribute(server, keys["user"], files)
    assert created.status_code == 201, created.text
    path = f"/api/library/contributions/{created.json()['id']}/review"
    no_reason = server.post(path, json={"decision": "reject"}, headers=auth(keys["reviewer"]))
    assert no_reason.status_code == 400
    rejected = server.post(
        path,
        json={"decision": "reject", "comment": "a copy of lif"},
        headers=auth(keys["reviewer"]),
    )
    assert rejected.json()["status"] == "rejected"
    assert server.get(f"/api/library/components/neuron/{name}").status_code == 404
    assert name not in [hit["name"] for hit in search(server, q="leaky")]
    mine = httpx.get(
        f"{server.url}/api/library/contributions", headers=auth(keys["user"]), timeout=10
    ).json()
    assert {item["status"] for item in mine} >= {"rejected"}


@pytest.mark.parametrize(
    ("change", "file", "field"),
    [
        (
            {"component.toml": ('unit = "ms"', 'unit = "parsec"')},
            "component.toml",
            "parameters.tau_m.unit",
        ),
        (
            {"component.toml": ("default = 10.0", "default = -1.0")},
            "component.toml",
            "parameters.tau_m.default",
        ),
        ({"reference.py": ("import math", "import math\nraise SystemExit(3)")}, "reference.py", ""),
        (
            {"reference.py": ("v, counter = v_reset,", "v, counter = v_reset + 0.002,")},
            "component.toml",
            "check",
        ),
    ],
)
def test_a_broken_contribution_is_refused_with_file_and_field(
    server: ServerProcess,
    keys: dict[str, str],
    change: dict[str, tuple[str, str]],
    file: str,
    field: str,
) -> None:
    version_change = ('version = "1.0.0"', f'version = "9.{uuid.uuid4().int % 10_000}.0"')
    toml_change = change.get("component.toml")
    if toml_change is None:
        change = {**change, "component.toml": version_change}
    upload = {"archive": ("lif.zip", zipped(ROOT / "neurons" / "lif", change), "application/zip")}
    refused = contribute(server, keys["user"], upload)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["file"].endswith(file)
    assert problem["field"] == field
    assert file in problem["message"]
