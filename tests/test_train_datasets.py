"""Built-in datasets and upload parsers of simcore.train.datasets."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
import torch

from simcore.train.datasets import (
    ArrayDataset,
    DatasetError,
    builtin,
    digits,
    parse_csv,
    parse_events,
    parse_idx,
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
