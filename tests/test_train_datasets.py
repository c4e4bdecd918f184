"""Built-in datasets and upload parsers of simcore.train.datasets."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simcore.builtin_datasets import BUILTIN_DATASETS
from simcore.train.datasets import (
    BUILTINS,
    ArrayDataset,
    DatasetError,
    builtin,
    digits,
    parse_csv,
    parse_events,
    parse_idx,
    parse_image_folders,
    parse_npz,
    rate_coded,
    spike_patterns,
)


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _idx(a: np.ndarray, code: int) -> bytes:
    head = bytes([0, 0, code, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def test_digits_is_torch_style_with_metadata() -> None:
    ds = digits()
    assert len(ds) == 1797 and ds.shape == (1, 8, 8) and len(ds.classes) == 10
    x, y = ds[0]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (1, 8, 8)
    assert isinstance(y, int) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0


@pytest.mark.parametrize("make", [spike_patterns, rate_coded])
def test_synthetic_sets_are_deterministic_per_seed(make) -> None:
    a, b, c = make(seed=3, n=50), make(seed=3, n=50), make(seed=4, n=50)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    assert set(np.unique(a.x)) <= {0.0, 1.0} and a.shape == (100, 32)


def test_spike_patterns_are_separable_by_class() -> None:
    ds = spike_patterns(seed=1, n=200)
    means = np.stack([ds.x[ds.y == k].mean(0) for k in range(len(ds.classes))])
    guess = [np.argmax([np.sum(x * m) for m in means]) for x in ds.x]
    assert np.mean(np.array(guess) == ds.y) > 0.9


def test_the_torch_free_catalogue_says_what_each_builtin_holds() -> None:
    assert set(BUILTIN_DATASETS) == set(BUILTINS)
    for name, info in BUILTIN_DATASETS.items():
        ds = builtin(name)
        assert (len(ds), ds.shape, tuple(ds.classes)) == (info.samples, info.shape, info.classes)


def test_unknown_builtin_names_the_choices() -> None:
    with pytest.raises(DatasetError, match="digits"):
        builtin("nope")


def test_npz_round_trip_and_errors() -> None:
    x = np.random.default_rng(0).random((6, 3, 2)).astype(np.float32)
    ds = parse_npz(_npz(x=x, y=np.array([0, 1, 2, 0, 1, 2])))
    assert ds.shape == (3, 2) and ds.classes == ["0", "1", "2"] and ds.class_counts() == [2, 2, 2]
    with pytest.raises(DatasetError, match="shape mismatch"):
        parse_npz(_npz(x=x, y=np.array([0, 1])))
    with pytest.raises(DatasetError, match="unknown label 5"):
        parse_npz(_npz(x=x, y=np.array([0, 1, 5, 0, 1, 0]), classes=np.array(["a", "b"])))
    with pytest.raises(DatasetError, match="lacks"):
        parse_npz(_npz(x=x))
    with pytest.raises(DatasetError, match="corrupt"):
        parse_npz(b"PK\x03\x04 not really a zip")


def test_csv_labels_become_classes() -> None:
    ds = parse_csv(b"a,label,b\n1,cat,2\n3,dog,4\n5,cat,6\n")
    assert ds.classes == ["cat", "dog"] and ds.shape == (2,)
    x, y = ds[1]
    assert x.tolist() == [3.0, 4.0] and y == 1
    with pytest.raises(DatasetError, match="line 3"):
        parse_csv(b"a,label\n1,cat\n2\n")
    with pytest.raises(DatasetError, match="'label'"):
        parse_csv(b"a,b\n1,2\n")
    with pytest.raises(DatasetError, match="line 2"):
        parse_csv(b"a,label\nx,cat\n")


def test_idx_pair_plain_and_gzipped() -> None:
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    labels = np.array([1, 0, 1], dtype=np.uint8)
    ds = parse_idx(gzip.compress(_idx(images, 0x08)), _idx(labels, 0x08))
    assert ds.shape == (1, 4, 5) and len(ds) == 3
    assert torch.allclose(ds[2][0], torch.from_numpy(images[2] / 255.0).float()[None])
    with pytest.raises(DatasetError, match="header"):
        parse_idx(_idx(images, 0x08)[:-1], _idx(labels, 0x08))
    with pytest.raises(DatasetError, match="magic"):
        parse_idx(b"hello", _idx(labels, 0x08))
    with pytest.raises(DatasetError, match="shape mismatch"):
        parse_idx(_idx(images, 0x08), _idx(labels[:2], 0x08))


def test_events_are_binned_per_sample() -> None:
    dt = np.dtype([("x", "i2"), ("y", "i2"), ("t", "i8"), ("p", "i1")])
    events = np.array([(0, 0, 0, 1), (1, 2, 50, 0), (2, 1, 100, 1), (1, 1, 7, 1)], dtype=dt)
    ds = parse_events(
        _npz(
            events=events,
            offsets=np.array([0, 3, 4]),
            labels=np.array([0, 1]),
            sensor=np.array([3, 3]),
            bins=np.array(4),
        )
    )
    assert ds.shape == (4, 2, 3, 3) and len(ds) == 2
    frames, label = ds[0]
    assert label == 0 and float(frames.sum()) == 3.0
    assert frames[0, 1, 0, 0] == 1 and frames[2, 0, 2, 1] == 1 and frames[3, 1, 1, 2] == 1
    with pytest.raises(DatasetError, match="outside"):
        parse_events(
            _npz(
                events=events,
                offsets=np.array([0, 4]),
                labels=np.array([0]),
                sensor=np.array([2, 2]),
            )
        )
    with pytest.raises(DatasetError, match="shape mismatch"):
        parse_events(
            _npz(
                events=events,
                offsets=np.array([0, 4]),
                labels=np.array([0, 1]),
                sensor=np.array([3, 3]),
            )
        )


def test_saved_form_is_memory_mapped(tmp_path) -> None:
    ds = rate_coded(seed=0, n=20)
    ds.save(str(tmp_path / "set"))
    back = ArrayDataset.load(str(tmp_path / "set"), ds.classes)
    assert isinstance(back.x, np.memmap)
    assert torch.equal(back[7][0], ds[7][0]) and back[7][1] == ds[7][1]


def test_npz_from_a_path_maps_stored_arrays_and_reads_compressed_ones(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((5, 2, 3))
    y = np.array([0, 1, 1, 0, 2], dtype=np.uint8)
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    np.savez_compressed(tmp_path / "packed.npz", x=x, y=y)
    plain, packed = parse_npz(tmp_path / "plain.npz"), parse_npz(str(tmp_path / "packed.npz"))
    assert isinstance(plain.x, np.memmap) and not isinstance(packed.x, np.memmap)
    for ds in (plain, packed):
        assert ds.shape == (2, 3) and ds.class_counts() == [2, 2, 1]
        assert torch.allclose(ds[4][0], torch.from_numpy(x[4]).float()) and ds[4][1] == 2
    (tmp_path / "cut.npz").write_bytes((tmp_path / "plain.npz").read_bytes()[:200])
    with pytest.raises(DatasetError, match="corrupt"):
        parse_npz(tmp_path / "cut.npz")


def test_idx_and_csv_from_paths(tmp_path: Path) -> None:
    images = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(4, 2, 3)
    (tmp_path / "images").write_bytes(_idx(images, 0x08))
    (tmp_path / "labels.gz").write_bytes(
        gzip.compress(_idx(np.array([0, 1, 0, 1], dtype=np.uint8), 0x08))
    )
    ds = parse_idx(tmp_path / "images", tmp_path / "labels.gz")
    assert isinstance(ds.x, np.memmap) and ds.x.dtype == np.uint8 and ds.shape == (1, 2, 3)
    assert torch.allclose(ds[3][0], torch.from_numpy(images[3] / 255.0).float()[None])
    (tmp_path / "short").write_bytes(_idx(images, 0x08)[:-2])
    with pytest.raises(DatasetError, match="says 24"):
        parse_idx(tmp_path / "short", tmp_path / "labels.gz")
    (tmp_path / "set.csv").write_text("label,a,b\nx,1,2\ny,3,4\n")
    ds = parse_csv(tmp_path / "set.csv")
    assert ds.classes == ["x", "y"] and ds[1][0].tolist() == [3.0, 4.0]


def _image(mode: str, size: tuple[int, int], value: int | tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, value).save(buf, format="PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def test_image_folders_become_classes(tmp_path: Path) -> None:
    gray = _zip(
        {
            "set/dog/a.png": _image("L", (4, 3), 255),
            "set/cat/b.png": _image("L", (4, 3), 0),
            "set/cat/c.png": _image("L", (4, 3), 51),
            "set/.DS_Store": b"junk",
            "__MACOSX/set/cat/._b.png": b"junk",
        }
    )
    (tmp_path / "gray.zip").write_bytes(gray)
    ds = parse_image_folders(tmp_path / "gray.zip")
    assert ds.classes == ["cat", "dog"] and ds.shape == (1, 3, 4) and ds.class_counts() == [2, 1]
    assert [float(ds[i][0].max()) for i in range(3)] == pytest.approx([0.0, 0.2, 1.0])
    rgb = parse_image_folders(
        _zip({"red/a.png": _image("RGB", (2, 2), (255, 0, 0)), "g/b.png": _image("L", (2, 2), 9)})
    )
    assert rgb.shape == (3, 2, 2) and rgb.classes == ["g", "red"]
    assert rgb[1][0][:, 0, 0].tolist() == [1.0, 0.0, 0.0]


def test_image_folders_errors_name_the_file() -> None:
    a = _image("L", (4, 4), 0)
    with pytest.raises(DatasetError, match=r"differ in size: a/1\.png is 4x4, b/2\.png is 5x4"):
        parse_image_folders(_zip({"a/1.png": a, "b/2.png": _image("L", (5, 4), 0)}))
    with pytest.raises(DatasetError, match=r"b/notes\.txt is not an image"):
        parse_image_folders(_zip({"a/1.png": a, "b/notes.txt": b"hello"}))
    with pytest.raises(DatasetError, match=r"loose\.png: every image must lie in a class folder"):
        parse_image_folders(_zip({"a/1.png": a, "loose.png": a}))
    with pytest.raises(DatasetError, match="corrupt zip"):
        parse_image_folders(b"not a zip")
    with pytest.raises(DatasetError, match="no images"):
        parse_image_folders(_zip({}))
