"""Share tokens and the roles they grant on ``/ws/docs/{model_id}?token=``: viewers and
embeds never have an update applied; a viewer's awareness is shown, an embed's never; a bad,
expired or foreign token is refused with a 44xx code and a reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import pytest
import websockets
from pycrdt import Doc, Provider, Text

from collab import protocol
from collab.protocol import Close, Refused
from collab.schema import roots
from server.domain.documents.sharing import Sharing
from tests.doc_clients import TIMEOUT_S, SocketChannel, closed_with, editor, eventually, log_rows
from tests.doc_clients import socket_url as plain_url
from tests.servers import ServerProcess
from tests.test_documents_ws import _awareness, _awareness_entry


def new_model(server: ServerProcess) -> str:
    response = server.post("/api/models", json={"name": "roles", "template": "cuba"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def token(server: ServerProcess, model: str, role: str, **extra: object) -> str:
    response = server.post(f"/api/models/{model}/share", json={"role": role, **extra})
    assert response.status_code == 201, response.text
    assert (response.json()["model"], response.json()["role"]) == (model, role)
    return response.json()["token"]


def socket_url(server: ServerProcess, model: str, share: str) -> str:
    return f"{plain_url(server.url, model)}?token={share}"


@contextlib.asynccontextmanager
async def shared_doc(url: str) -> AsyncIterator[Doc]:
    """pycrdt's ``Provider`` connected with a share token, once synced."""
    doc = Doc()
    async with (
        websockets.connect(url, max_size=None) as socket,
        Provider(doc, SocketChannel(socket, url)) as provider,
    ):
        await asyncio.wait_for(provider.synced.wait(), TIMEOUT_S)
        yield doc


def notes(doc: Doc) -> Text:
    text = roots(doc)["notes"]
    assert isinstance(text, Text)
    return text


@pytest.mark.parametrize("role", ["viewer", "embed"])
async def test_a_read_only_connection_syncs_but_its_updates_are_never_applied(
    server: ServerProcess, services_environment: dict[str, str], role: str
) -> None:
    model = new_model(server)
    database = services_environment["DATABASE_URL"]
    url = socket_url(server, model, token(server, model, role))
    async with editor(server.url, model) as ada, shared_doc(url) as reader:
        assert roots(reader)["populations"]["exc"]["size"] == 3200
        before = await log_rows(database, model)
        notes(reader).insert(0, "not allowed")  # sent by its provider, and dropped
        notes(ada).insert(0, "from ada")
        await eventually(lambda: "from ada" in str(notes(reader)))
        await asyncio.sleep(0.3)  # time for the dropped update to have arrived
        assert str(notes(ada)) == "from ada"
        assert await log_rows(database, model) == before + 1
        # Still connected: it keeps getting what editors do.
        notes(ada).insert(len(notes(ada)), "!")
        await eventually(lambda: "from ada!" in str(notes(reader)))
    async with editor(server.url, model) as fresh:
        assert str(notes(fresh)) == "from ada!"


async def test_a_viewers_awareness_is_shown_and_an_embeds_never(server: ServerProcess) -> None:
    model = new_model(server)
    viewer = socket_url(server, model, token(server, model, "viewer"))
    embed = socket_url(server, model, token(server, model, "embed"))
    async with (
        websockets.connect(plain_url(server.url, model)) as watcher,
        websockets.connect(embed) as hidden,
    ):
        await hidden.send(protocol.awareness(_awareness_entry(5, 1, json.dumps({"u": "e"}))))
        async with websockets.connect(viewer) as seen:
            state = {"user": {"name": "Viewer"}}
            await seen.send(protocol.awareness(_awareness_entry(9, 1, json.dumps(state))))
            # The first awareness the watcher hears is the viewer's: the embed's never came.
            assert await _awareness(watcher) == {9: state}
            with pytest.raises(TimeoutError):  # nor is the embed sent anyone's
                await asyncio.wait_for(_awareness(hidden), 0.5)


async def test_bad_tokens_are_refused_with_a_reason(server: ServerProcess) -> None:
    model, other = new_model(server), new_model(server)
    good = token(server, model, "editor")
    payload, _, signature = good.partition(".")
    tampered = f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    cases = {
        "malformed": (f"{payload}!", Close.BAD_TOKEN, "the share token is malformed"),
        "tampered": (tampered, Close.BAD_TOKEN, "the share token is not signed by this server"),
        "expired": (
            token(server, model, "viewer", expires_in_s=0.001),
            Close.BAD_TOKEN,
            "the share token expired at ",
        ),
        "foreign": (
            token(server, other, "editor"),
            Close.FORBIDDEN,
            "the share token is for another model",
        ),
    }
    for share, code, reason in cases.values():
        async with websockets.connect(socket_url(server, model, share)) as socket:
            closed = await closed_with(socket)
        assert closed[0] == code and closed[1].startswith(reason), closed
    async with shared_doc(socket_url(server, model, good)) as doc:  # the untouched one works
        assert roots(doc)["meta"]["name"] == "roles"


def test_sharing_an_unknown_model_or_role_is_refused(server: ServerProcess) -> None:
    missing = uuid.uuid4()
    response = server.post(f"/api/models/{missing}/share", json={"role": "viewer"})
    assert response.status_code == 404 and str(missing) in response.json()["detail"]
    model = new_model(server)
    assert server.post(f"/api/models/{model}/share", json={"role": "owner"}).status_code == 400
    bad_expiry = {"role": "viewer", "expires_in_s": 0}
    assert server.post(f"/api/models/{model}/share", json=bad_expiry).status_code == 400


def test_without_a_token_the_role_is_the_configured_default() -> None:
    model = uuid.uuid4()
    for default in ("editor", "viewer", "embed"):
        assert Sharing(b"secret", default, 60.0).role(model, None) == default
    minted, _ = Sharing(b"secret", "editor", 60.0).mint(model, "embed", None)
    assert Sharing(b"secret", "viewer", 60.0).role(model, minted) == "embed"
    with pytest.raises(Refused):
        Sharing(b"another secret", "viewer", 60.0).role(model, minted)
