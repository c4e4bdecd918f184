"""The stock ``yjs`` + ``y-websocket`` client (Node, the web app's own packages, unchanged) and
pycrdt clients edit one model on a real server: they converge to the same content, and the
awareness a Node client sets is seen by a Python client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from pycrdt import Awareness, Doc, Map, Text

from collab import protocol
from collab.schema import roots
from tests.doc_clients import TIMEOUT_S, editor, eventually, socket_url
from tests.servers import ServerProcess

NODE_CLIENT = Path(__file__).parent / "node" / "yjs_client.cjs"


class NodeClient:
    """``tests/node/yjs_client.cjs`` in a child process, spoken to one JSON line at a time."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    async def send(self, **command: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def next_event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT_S)
        assert line, f"the Node client exited ({await self.process.wait()})"
        return json.loads(line)

    async def dump(self) -> dict[str, Any]:
        await self.send(op="dump")
        event = await self.next_event()
        assert event["event"] == "dump", event
        return event


@contextlib.asynccontextmanager
async def node_client(server: ServerProcess, model: str, name: str) -> AsyncIterator[NodeClient]:
    """A synced Node client named ``name`` in ``model``'s room."""
    node = shutil.which("node")
    assert node, "these tests need Node.js (the web app's toolchain)"
    base = socket_url(server.url, model).rsplit("/", 1)[0]  # y-websocket appends the room
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_CLIENT),
        base,
        model,
        name,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    client = NodeClient(process)
    try:
        assert await client.next_event() == {"event": "synced"}
        yield client
    finally:
        assert process.stdin is not None
        process.stdin.close()  # it disconnects and exits
        try:
            await asyncio.wait_for(process.wait(), TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


def content(doc: Doc) -> dict[str, Any]:
    """Every root of ``doc`` as plain data, in the shape the Node client dumps."""
    data: dict[str, Any] = {}
    for name, root in roots(doc).items():
        data[name] = str(root) if isinstance(root, Text) else root.to_py()
    return data


def same_numbers(value: Any) -> Any:
    """``value`` with every number a float: Yjs has one number type, which JSON from
    JavaScript writes as an integer where it can and pycrdt reads as a float."""
    if isinstance(value, dict):
        return {key: same_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [same_numbers(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def new_model(server: ServerProcess) -> str:
    response = server.post("/api/models", json={"name": "interop", "template": "cuba"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture(autouse=True)
def _packages() -> None:
    web = Path(__file__).parents[1] / "web" / "node_modules"
    missing = [name for name in ("yjs", "y-websocket", "ws") if not (web / name).is_dir()]
    assert not missing, f"web/node_modules lacks {missing}: run `just web` (npm ci)"


async def test_yjs_and_pycrdt_clients_edit_one_model_and_converge(server: ServerProcess) -> None:
    model = new_model(server)
    names = ("node-ada", "node-bob", "py-cy", "py-dan")
    async with (
        node_client(server, model, "node-ada") as ada,
        node_client(server, model, "node-bob") as bob,
        editor(server.url, model) as cy,
        editor(server.url, model) as dan,
    ):
        # At the same moment: each appends to the same text and sets its own key; Node and
        # Python each change a field of a nested map made by the other side (the template).
        await ada.send(op="edit")
        await bob.send(op="edit")
        await ada.send(op="set", path=["populations", "exc", "size"], value=400)
        for doc, name in ((cy, "py-cy"), (dan, "py-dan")):
            with doc.transaction():
                roots(doc)["meta"][f"from_{name}"] = name
                notes = roots(doc)["notes"]
                assert isinstance(notes, Text)
                notes += f"{name};"
        inh = roots(dan)["populations"]["inh"]
        assert isinstance(inh, Map)
        inh["size"] = 100

        def has_everything(data: dict[str, Any]) -> bool:
            meta, populations = data["meta"], data["populations"]
            return (
                all(meta.get(f"from_{name}") == name for name in names)
                and populations["exc"]["size"] == 400
                and populations["inh"]["size"] == 100
            )

        for doc in (cy, dan):
            await eventually(lambda doc=doc: has_everything(content(doc)))
        dumps = [
            await eventually(lambda node=node: _dump_if(node, has_everything))
            for node in (ada, bob)
        ]
        expected = same_numbers(content(cy))
        assert same_numbers(content(dan)) == expected
        for dump in dumps:
            assert same_numbers(dump["content"]) == expected
        assert sorted(expected["notes"].rstrip(";").split(";")) == sorted(names)

    # What they agreed on is what the server stored.
    async with editor(server.url, model) as fresh:
        assert same_numbers(content(fresh)) == expected


async def _dump_if(node: NodeClient, condition: Any) -> dict[str, Any] | None:
    dump = await node.dump()
    return dump if condition(dump["content"]) else None


async def test_awareness_from_a_yjs_client_reaches_a_python_client(server: ServerProcess) -> None:
    model = new_model(server)
    seen = Awareness(Doc())

    def ada_state() -> dict[str, Any] | None:
        states = [state for state in seen.states.values() if state]
        return next((s for s in states if s.get("user", {}).get("name") == "Ada"), None)

    async with websockets.connect(socket_url(server.url, model)) as watcher:
        reading = asyncio.create_task(_follow_awareness(watcher, seen))
        try:
            async with node_client(server, model, "node-ada") as ada:
                state = {"user": {"name": "Ada", "color": "#30bced"}, "selection": "exc"}
                await ada.send(op="awareness", state=state)
                assert await eventually(ada_state) == state
            await eventually(lambda: ada_state() is None)  # gone with its connection
        finally:
            reading.cancel()


async def _follow_awareness(socket: websockets.ClientConnection, into: Awareness) -> None:
    async for frame in socket:
        assert isinstance(frame, bytes)
        message = protocol.parse(frame)
        if isinstance(message, protocol.AwarenessUpdate):
            into.apply_awareness_update(message.update, origin="server")
