"""/api/datasets against a real server: uploads of every format, the list, previews, the
limits and refusals (nothing kept), deletion, and a training run on an upload."""

from __future__ import annotations

import asyncio
import gzip
import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from server.embedded import EmbeddedS3
from server.objects import ObjectStore
from tests.conftest import s3_environment
from tests.runs import FINAL, start_run, wait_state
from tests.servers import ServerProcess

MAX_UPLOAD = 64 * 1024


@pytest.fixture(scope="module")
def store_url(s3: EmbeddedS3) -> str:
    return f"{s3.url}/{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    services_environment: dict[str, str],
    store_url: str,
) -> Iterator[ServerProcess]:
    """A server of its own: a small upload limit, and an object store only it writes."""
    process = ServerProcess(
        tmp_path_factory.mktemp("datasets") / "data",
        {
            **services_environment,
            "OBJECT_STORE_URL": store_url,
            "SPIKEX_DATASET_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
            "SPIKEX_DATASET_PREVIEW_SAMPLES": "3",
        },
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def stored(
    s3: EmbeddedS3, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], list[str]]:
    """The keys under a prefix of the server's object store, as this process sees them."""
    for variable, value in s3_environment(s3).items():
        monkeypatch.setenv(variable, value)  # obstore reads the AWS_* variables itself
    store = ObjectStore(store_url, timeout_s=5, allow_http=True)
    return lambda prefix: asyncio.run(store.list(prefix))


def upload(server: ServerProcess, files: dict[str, Any], **form: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/datasets", files=files, data=form, timeout=60)


def uploaded(server: ServerProcess, files: dict[str, Any], **form: str) -> dict[str, Any]:
    response = upload(server, files, **form)
    assert response.status_code == 201, response.text
    return response.json()


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def idx(a: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape)
    return head + a.astype(np.uint8).tobytes()


def png(size: tuple[int, int], value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, value).save(buf, format="PNG")
    return buf.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def uploads(server: ServerProcess) -> list[str]:
    listed = server.get("/api/datasets", params={"limit": 500})
    assert listed.status_code == 200, listed.text
    return [d["id"] for d in listed.json() if not d["builtin"]]


def test_each_format_uploads_lists_and_previews(
    server: ServerProcess, stored: Callable[[str], list[str]]
) -> None:
    x = np.arange(6 * 2 * 3, dtype=np.float32).reshape(6, 2, 3)
    arrays = uploaded(
        server,
        {
            "file": (
                "arrays.npz",
                npz(x=x, y=np.array([1, 0, 1, 1, 2, 1]), classes=np.array(["a", "b", "c"])),
            )
        },
        name="my arrays",
    )
    assert arrays["name"] == "my arrays" and arrays["format"] == "npz"
    assert arrays["classes"] == ["a", "b", "c"] and arrays["shape"] == [2, 3]
    assert arrays["samples"] == 6 and arrays["class_counts"] == [1, 4, 1]
    # One sample of each class first (SPIKEX_DATASET_PREVIEW_SAMPLES=3), values as uploaded.
    preview = arrays["preview"]
    assert [(p["index"], p["class_name"]) for p in preview] == [(1, "a"), (0, "b"), (4, "c")]
    assert preview[2]["values"] == x[4].tolist() and preview[2]["reduced"] is False

    table = uploaded(server, {"file": ("iris.csv", b"f1,f2,label\n1,2,setosa\n3,4,virginica\n")})
    assert (table["format"], table["classes"], table["shape"]) == (
        "csv",
        ["setosa", "virginica"],
        [2],
    )
    assert table["name"] == "iris.csv"

    images = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    pair = uploaded(
        server,
        {
            "images": ("train-images-idx3-ubyte.gz", gzip.compress(idx(images))),
            "labels": ("train-labels-idx1-ubyte", idx(np.array([0, 1, 2, 1, 0]))),
        },
    )
    assert (pair["format"], pair["shape"], pair["class_counts"]) == ("idx", [1, 4, 3], [2, 2, 1])
    assert pair["preview"][0]["values"] == np.round(images[0][None] / 255.0, 4).tolist()

    folders = uploaded(
        server,
        {
            "file": (
                "pets.zip",
                zipped({"pets/cat/1.png": png((3, 2), 0), "pets/dog/2.png": png((3, 2), 255)}),
            )
        },
    )
    assert (folders["format"], folders["classes"], folders["shape"]) == (
        "image-folders",
        ["cat", "dog"],
        [1, 2, 3],
    )
    assert folders["preview"][1]["values"] == [[[1.0] * 3] * 2]

    kind = np.dtype([("x", "i2"), ("y", "i2"), ("t", "i8"), ("p", "i1")])
    events = np.array([(0, 0, 0, 1), (1, 1, 5, 0), (1, 0, 9, 1)], dtype=kind)
    streams = uploaded(
        server,
        {
            "file": (
                "gestures.npz",  # an npz holding events is an events set without saying so
                npz(
                    events=events,
                    offsets=np.array([0, 2, 3]),
                    labels=np.array([1, 0]),
                    sensor=np.array([2, 2]),
                    bins=np.array(2),
                ),
            )
        },
    )
    assert (streams["format"], streams["shape"], streams["samples"]) == ("events", [2, 2, 2, 2], 2)

    listed = server.get("/api/datasets").json()
    builtins = [d["id"] for d in listed if d["builtin"]]
    assert builtins[:4] == ["digits", "mnist-5k", "spike-patterns", "rate-coded"]
    assert [d["builtin"] for d in listed] == sorted((d["builtin"] for d in listed), reverse=True)
    mine = [arrays["id"], table["id"], pair["id"], folders["id"], streams["id"]]
    assert [i for i in uploads(server) if i in mine] == mine[::-1]  # newest first
    digits = server.get("/api/datasets/digits").json()
    assert digits["builtin"] and digits["shape"] == [1, 8, 8] and digits["samples"] == 1797

    again = server.get(f"/api/datasets/{pair['id']}").json()
    assert again == pair
    keys = stored(f"datasets/{pair['id']}/")
    assert [key.rsplit("/", 1)[1] for key in keys] == ["images", "labels"]


def test_refusals_keep_nothing(server: ServerProcess, stored: Callable[[str], list[str]]) -> None:
    before, kept = uploads(server), stored("datasets/")
    x = np.zeros((6, 2), dtype=np.float32)
    cases = [
        (
            {"file": ("a.npz", npz(x=x, y=np.array([0, 1])))},
            {},
            "shape mismatch: 6 samples but 2 labels",
        ),
        (
            {
                "file": (
                    "a.npz",
                    npz(x=x, y=np.array([0, 1, 5, 0, 1, 0]), classes=np.array(["p", "q"])),
                )
            },
            {},
            "unknown label 5",
        ),
        ({"file": ("a.npz", b"PK\x03\x04 not really a zip")}, {}, "corrupt .npz file"),
        (
            {"file": ("a.npz", npz(x=x, y=np.zeros(6, dtype=int)))},
            {"format": "csv"},
            "corrupt CSV file",
        ),
        ({"file": ("a.npz", b"x")}, {"format": "parquet"}, "unknown format 'parquet'"),
        ({"file": ("a.h5", b"x")}, {}, "cannot tell the format of 'a.h5'"),
        ({"images": ("i", idx(np.zeros((2, 2, 2))))}, {}, "got the fields ['images']"),
        (
            {"file": ("s.zip", zipped({"a/1.png": png((2, 2), 0), "b/2.png": png((3, 2), 0)}))},
            {},
            "images differ in size: a/1.png is 2x2, b/2.png is 3x2",
        ),
        (
            {"file": ("s.zip", zipped({"a/1.png": png((2, 2), 0), "b/x.txt": b"hi"}))},
            {},
            "b/x.txt is not an image",
        ),
    ]
    for files, form, message in cases:
        response = upload(server, files, **form)
        assert response.status_code == 422, (message, response.text)
        assert message in response.json()["detail"], response.text

    too_big = upload(server, {"file": ("big.csv", b"0" * MAX_UPLOAD)})
    assert too_big.status_code == 413, too_big.text
    assert str(MAX_UPLOAD) in too_big.json()["detail"]

    # Without a Content-Length the limit holds as the body streams in.
    boundary = "datasetboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + b"1," * (MAX_UPLOAD // 2)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    streamed = httpx.post(
        f"{server.url}/api/datasets",
        content=(body[i : i + 4096] for i in range(0, len(body), 4096)),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    assert streamed.status_code == 413, streamed.text

    assert uploads(server) == before
    assert stored("datasets/") == kept


def test_unknown_ids_and_deletion(
    server: ServerProcess, stored: Callable[[str], list[str]]
) -> None:
    for missing in (str(uuid.uuid4()), "no-such-set"):
        response = server.get(f"/api/datasets/{missing}")
        assert response.status_code == 404 and missing in response.json()["detail"]
        assert httpx.delete(f"{server.url}/api/datasets/{missing}").status_code == 404
    assert httpx.delete(f"{server.url}/api/datasets/digits").status_code == 409

    made = uploaded(server, {"file": ("t.csv", b"label,v\na,1\nb,2\n")})
    assert stored(f"datasets/{made['id']}/")
    assert httpx.delete(f"{server.url}/api/datasets/{made['id']}").status_code == 204
    assert server.get(f"/api/datasets/{made['id']}").status_code == 404
    assert made["id"] not in uploads(server)
    assert stored(f"datasets/{made['id']}/") == []


def test_a_run_trains_on_an_upload_and_refuses_an_unknown_dataset(server: ServerProcess) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images[:300] * 16).clip(0, 255).astype(np.uint8)
    pair = uploaded(
        server,
        {
            "images": ("digits-images-idx3-ubyte", idx(images)),
            "labels": ("digits-labels-idx1-ubyte", idx(digits.target[:300])),
        },
        name="digits as IDX",
    )
    assert pair["shape"] == [1, 8, 8] and len(pair["classes"]) == 10
    model_id = server.post("/api/models", json={"name": "mlp", "template": "mlp"}).json()["id"]

    refused = server.post(f"/api/models/{model_id}/runs", json={"kind": "train", "dataset": "nope"})
    assert refused.status_code == 422, refused.text
    assert "unknown dataset 'nope'" in refused.text and pair["id"] in refused.text

    run = start_run(server, model_id, kind="train", epochs=1, device="cpu", dataset=pair["id"])
    done = wait_state(server, run["id"], FINAL, timeout_s=180)
    assert done["state"] == "completed", done["error"]
    accuracy = server.get(f"/api/runs/{run['id']}/metrics", params={"name": "eval_accuracy"})
    assert [m["step"] for m in accuracy.json()] == [1]
