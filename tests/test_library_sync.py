"""Sync of a library folder to real PostgreSQL and S3: idempotent, versioned by (name,
version) and content hash, removed components withdrawn but kept; the engine's catalog read
back from the database refuses withdrawn and unknown components."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import simcore
from library.loader import ROOT, ComponentError
from server.connections import Connections
from server.db.tables import LibraryComponent
from server.domain.library import service
from server.domain.library.sync import sync_library
from simcore.spec import (
    Component,
    Connector,
    ModelSpec,
    Population,
    Projection,
    Value,
)


def copy(source: Path, root: Path, name: str) -> Path:
    """``source`` under ``root`` as a component called ``name``."""
    folder = root / source.parent.name / name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = folder / "component.toml"
    toml.write_text(toml.read_text().replace(f'name = "{source.name}"', f'name = "{name}"', 1))
    return folder


@pytest.fixture
async def library(connections: Connections, tmp_path: Path) -> AsyncIterator[tuple[Path, str]]:
    """A small library: two fresh components and the repository's lif. The repository's
    library is synced back after (its components are withdrawn while this one is the
    folder, and come back)."""
    token = uuid.uuid4().hex[:8]
    root = tmp_path / "library"
    copy(ROOT / "neurons" / "lif", root, f"t{token}_lif")
    copy(ROOT / "synapses" / "exp_current", root, f"t{token}_exp")
    copy(ROOT / "neurons" / "lif", root, "lif")  # as in the repository
    try:
        yield root, token
    finally:
        report = await sync_library(connections.objects, ROOT)
        assert not report.created  # the repository's rows were kept, only withdrawn


async def rows(name: str) -> list[dict[str, object]]:
    return (
        await LibraryComponent.select()
        .where(LibraryComponent.name == name)
        .order_by(LibraryComponent.version)
    )


async def test_sync_is_idempotent_versioned_and_withdraws_without_deleting(
    connections: Connections, library: tuple[Path, str]
) -> None:
    root, token = library
    lif, exp = f"t{token}_lif", f"t{token}_exp"
    first = await sync_library(connections.objects, root)
    assert sorted(first.created) == [f"neuron/{lif} 1.0.0", f"synapse/{exp} 1.0.0"]
    assert "neuron/adex 1.0.0" in first.withdrawn  # not in this folder
    assert "neuron/lif 1.0.0" not in first.withdrawn
    [row] = await rows(lif)
    assert row["status"] == "approved" and row["source"] == "repository"
    keys = await connections.objects.list(row["object_prefix"])
    assert {key.rsplit("/", 1)[-1] for key in keys} == {
        "component.toml",
        "description.md",
        "math.tex",
        "reference.py",
    }
    stored = await connections.objects.get(f"{row['object_prefix']}/math.tex")
    assert stored == (root / "neurons" / lif / "math.tex").read_bytes()

    # again: nothing to do, nothing rewritten
    second = await sync_library(connections.objects, root)
    assert (second.created, second.changed, second.withdrawn) == ([], [], [])
    assert second.unchanged == 3
    [again] = await rows(lif)
    assert again["updated_at"] == row["updated_at"]
    assert again["content_hash"] == row["content_hash"]

    # the content changes under the same version: rewritten (with a warning), new objects
    description = root / "neurons" / lif / "description.md"
    description.write_text(description.read_text() + "\nA note added later.\n")
    changed = await sync_library(connections.objects, root)
    assert changed.changed == [f"neuron/{lif} 1.0.0"]
    [edited] = await rows(lif)
    assert edited["content_hash"] != row["content_hash"]
    assert "A note added later." in edited["description"]
    assert await connections.objects.exists(f"{row['object_prefix']}/math.tex")  # kept

    # a new version: the old one stays, the page offers both, newest first
    toml = root / "neurons" / lif / "component.toml"
    toml.write_text(toml.read_text().replace('version = "1.0.0"', 'version = "1.1.0"'))
    bumped = await sync_library(connections.objects, root)
    assert bumped.created == [f"neuron/{lif} 1.1.0"]
    assert [r["version"] for r in await rows(lif)] == ["1.0.0", "1.1.0"]
    page = await service.page("neuron", lif)
    assert page.latest == "1.1.0"
    assert [v.version for v in page.versions] == ["1.1.0", "1.0.0"]

    # a component leaves the folder: withdrawn, never deleted, no longer offered
    shutil.rmtree(root / "synapses" / exp)
    removed = await sync_library(connections.objects, root)
    assert removed.withdrawn == [f"synapse/{exp} 1.0.0"]
    [gone] = await rows(exp)
    assert gone["withdrawn"] is True and gone["status"] == "approved"
    assert await connections.objects.exists(f"{gone['object_prefix']}/component.toml")
    assert exp not in [hit.name for hit in await service.search(None, "synapse", [])]
    with pytest.raises(service.ComponentNotFound):
        await service.page("synapse", exp)
    assert (await service.page("synapse", exp, "1.0.0")).withdrawn is True

    # the engine's catalog from the database refuses it, naming the path
    catalog = await service.catalog()
    spec = ModelSpec(
        name="uses a withdrawn synapse",
        kind="snn",
        populations=(Population(id="a", size=2, neuron=Component("lif")),),
        projections=(
            Projection(
                id="p",
                source="a",
                target="a",
                synapse=Component(exp, version="1.0.0"),
                connector=Connector(rule="all_to_all"),
                weight=Value("nA", 0.1),
                delay=Value("ms", 1.0),
            ),
        ),
    )
    with pytest.raises(simcore.BuildError) as caught:
        simcore.build(spec, catalog=catalog)
    found = {error.path: error.message for error in caught.value.errors}
    assert "was withdrawn" in found["projections/p/synapse/version"]


async def test_the_catalog_from_the_database_builds_the_repository_components(
    connections: Connections,
) -> None:
    await sync_library(connections.objects, ROOT)
    catalog = await service.catalog()
    spec = ModelSpec(
        name="two neurons",
        kind="snn",
        populations=(Population(id="a", size=2, neuron=Component("lif", version="1.0.0")),),
        projections=(
            Projection(
                id="p",
                source="a",
                target="a",
                synapse=Component("exp_current"),
                connector=Connector(rule="all_to_all"),
                weight=Value("nA", 0.1),
                delay=Value("ms", 1.0),
            ),
        ),
    )
    assert simcore.build(spec, threads=1, catalog=catalog).dt > 0
    unknown = ModelSpec(
        name="unknown",
        kind="snn",
        populations=(Population(id="a", size=2, neuron=Component("lif_unknown")),),
    )
    with pytest.raises(simcore.BuildError) as caught:
        simcore.build(unknown, catalog=catalog)
    assert "unknown neuron 'lif_unknown'" in caught.value.errors[0].message
    assert caught.value.errors[0].path == "populations/a/neuron/name"


async def test_a_broken_component_stops_the_sync_before_anything_is_written(
    connections: Connections, tmp_path: Path
) -> None:
    root = tmp_path / "library"
    name = f"t{uuid.uuid4().hex[:8]}_lif"
    folder = copy(ROOT / "neurons" / "lif", root, name)
    (folder / "math.tex").unlink()
    with pytest.raises(ComponentError, match=r"math\.tex: is missing"):
        await sync_library(connections.objects, root)
    assert await rows(name) == []
    assert not (await sync_library(connections.objects, ROOT)).withdrawn
