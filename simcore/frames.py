"""The binary frame: what a run streams to viewers and stores for replay (``docs/frames.md``).

One frame is a 16-byte prefix, a small JSON header (a msgspec ``Header``) and a body of raw
little-endian arrays, each starting on an 8-byte boundary of the body, which itself starts on an
8-byte boundary of the frame. A browser makes typed-array views on the received buffer and hands
them to WebGL as they are; Python gets numpy views on the bytes (``decode``, no copy).

Prefix (little-endian)::

    0   4 bytes  magic b"SXFR"
    4   u16      format version (``VERSION``)
    6   u16      flags (0; reserved)
    8   u32      header length in bytes (H)
    12  u32      body length in bytes (B)
    16  H bytes  header, UTF-8 JSON
        padding  zeros up to the next multiple of 8
        B bytes  body; ``Array.offset`` counts from its first byte

Array names say what they hold (``<monitor>`` is the spec's monitor id)::

    spikes/<monitor>/neurons   uint32 [k]        neuron index in the monitored population
    spikes/<monitor>/offsets   uint32 [k]        step - header.start
    states/<monitor>/neurons   uint32 [n]        the sampled neurons
    states/<monitor>/offsets   uint32 [s]        sample step - header.start
    states/<monitor>/<var>     float16|float32 [s, n]   SI units
    rates/<monitor>/offsets    uint32 [b]        bin start - header.start
    rates/<monitor>/hz         float32 [b]       population rate over the bin
    raster/<monitor>           uint16 [t, m]     spike counts, ``Array.bins`` = (steps, neurons)
                                                  per bin (a downsampled view)
    metrics/<name>             float32 [k]       training metrics over the frame (loss, ...)

Compatibility: readers ignore header fields, array names and kinds they do not know, so those
may be added without a new version; anything else (prefix, the meaning or dtype of an existing
name, the alignment) takes a new ``VERSION``, and readers refuse versions newer than theirs.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import msgspec
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from simcore._network import Frame as SimFrame
    from simcore.spec import ModelSpec

VERSION = 1
MAGIC = b"SXFR"
ALIGN = 8
_PREFIX = struct.Struct("<4sHHII")
PREFIX_SIZE = _PREFIX.size

DType = Literal["uint8", "uint16", "uint32", "int32", "float16", "float32", "float64"]
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name).newbyteorder("<")
    for name in ("uint8", "uint16", "uint32", "int32", "float16", "float32", "float64")
}
Kind = Literal["spikes", "states", "rates", "raster", "metrics"]


class FrameError(ValueError):
    """Bytes that are not a frame this reader understands (truncated, foreign, newer)."""


class Array(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    dtype: DType
    shape: tuple[int, ...]
    offset: int
    """Bytes from the start of the body (a multiple of 8)."""
    bins: tuple[int, int] | None = None
    """For ``raster/...``: (steps, neurons) per bin."""


class Change(msgspec.Struct, frozen=True):
    """A steering change, in effect from ``step`` on."""

    kind: str
    target: str
    value: float | tuple[float, ...]
    step: int


class Header(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    version: int = 0
    """The format version, set by ``encode`` (the prefix holds it too)."""
    run: str
    index: int
    """Frames of the run before this one."""
    kinds: tuple[str, ...] = ()
    start: int
    end: int
    """Steps ``[start, end)``; for training, epochs or batches."""
    dt: float
    """Seconds per step."""
    applies_from: int | None = None
    """The step from which this frame's ``changes`` act (steering)."""
    changes: tuple[Change, ...] = ()
    sizes: dict[str, int] = {}
    """Neurons in the population each monitor watches (to draw or bin what it holds)."""
    produced_at: float = 0.0
    """Unix time when the producer encoded the frame."""
    skipped: int = 0
    """Frames a viewer did not receive just before this one (it was too slow)."""
    arrays: tuple[Array, ...] = ()


_encode_header = msgspec.json.Encoder().encode
_decode_header = msgspec.json.Decoder(Header).decode


@dataclass(frozen=True, slots=True, eq=False)
class Decoded:
    """A decoded frame: its header and read-only numpy views on the frame's bytes."""

    header: Header
    arrays: dict[str, npt.NDArray]
    body: memoryview
    """The body bytes (``with_header`` reuses them without copying the arrays twice)."""

    def __getitem__(self, name: str) -> npt.NDArray:
        return self.arrays[name]

    def __contains__(self, name: str) -> bool:
        return name in self.arrays


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def encode(
    header: Header,
    arrays: Mapping[str, npt.ArrayLike],
    *,
    bins: Mapping[str, tuple[int, int]] | None = None,
) -> bytes:
    """One frame: ``header`` (its ``arrays`` are filled in here) and the arrays, converted to
    their little-endian dtype (an array's dtype must be one of ``DTYPES``)."""
    bins = bins or {}
    infos: list[Array] = []
    parts: list[npt.NDArray] = []
    offset = 0
    for name, value in arrays.items():
        array = np.asarray(value)
        dtype = DTYPES.get(array.dtype.name)
        if dtype is None:
            raise FrameError(f"{name}: dtype {array.dtype} is not one of {', '.join(DTYPES)}")
        array = np.ascontiguousarray(array, dtype=dtype)
        infos.append(Array(name, array.dtype.name, array.shape, offset, bins.get(name)))  # type: ignore[arg-type]
        parts.append(array)
        offset = _aligned(offset + array.nbytes)
    body = bytearray(offset)
    for info, array in zip(infos, parts, strict=True):
        body[info.offset : info.offset + array.nbytes] = array.tobytes()
    return _assemble(msgspec.structs.replace(header, version=VERSION, arrays=tuple(infos)), body)


def _assemble(header: Header, body: bytes | bytearray | memoryview) -> bytes:
    text = _encode_header(header)
    start = _aligned(PREFIX_SIZE + len(text))
    out = bytearray(start + len(body))
    _PREFIX.pack_into(out, 0, MAGIC, VERSION, 0, len(text), len(body))
    out[PREFIX_SIZE : PREFIX_SIZE + len(text)] = text
    out[start:] = body
    return bytes(out)


def with_header(frame: Decoded, **changes: object) -> bytes:
    """The same frame (same body) under a header with ``changes`` (``skipped=3``, say)."""
    return _assemble(msgspec.structs.replace(frame.header, **changes), frame.body)


def read_header(data: bytes | bytearray | memoryview) -> tuple[Header, int, int]:
    """The header, and where the body starts and ends; checks the prefix and the length."""
    view = memoryview(data)
    if view.nbytes < PREFIX_SIZE:
        raise FrameError(f"truncated frame: {view.nbytes} bytes, the prefix alone has 16")
    magic, version, _flags, header_len, body_len = _PREFIX.unpack_from(view)
    if magic != MAGIC:
        raise FrameError(f"not a SPIKE-X frame (magic {bytes(magic)!r}, expected {MAGIC!r})")
    if version > VERSION:
        raise FrameError(
            f"frame format version {version} is newer than this reader's ({VERSION}); "
            "update the reader"
        )
    if version < 1:
        raise FrameError(f"frame format version {version} does not exist")
    start = _aligned(PREFIX_SIZE + header_len)
    if view.nbytes < start + body_len:
        raise FrameError(
            f"truncated frame: {view.nbytes} bytes, its prefix announces {start + body_len}"
        )
    try:
        header = _decode_header(view[PREFIX_SIZE : PREFIX_SIZE + header_len])
    except msgspec.DecodeError as error:
        raise FrameError(f"bad frame header: {error}") from None
    return header, start, start + body_len


def decode(data: bytes | bytearray | memoryview) -> Decoded:
    """A frame from its bytes; the arrays are views on ``data`` (keep it alive, don't mutate)."""
    header, start, end = read_header(data)
    body = memoryview(data)[start:end]
    arrays: dict[str, npt.NDArray] = {}
    for info in header.arrays:
        dtype = DTYPES[info.dtype]
        count = int(np.prod(info.shape, dtype=np.int64)) if info.shape else 1
        if info.offset % ALIGN or info.offset + count * dtype.itemsize > body.nbytes:
            raise FrameError(f"array {info.name} lies outside the frame's body")
        array = np.frombuffer(body, dtype=dtype, count=count, offset=info.offset)
        arrays[info.name] = array.reshape(info.shape)
    return Decoded(header, arrays, body)


def monitor_sizes(spec: ModelSpec) -> dict[str, int]:
    """Per monitor of ``spec``, the size of the population it watches."""
    sizes = {population.id: population.size for population in spec.populations}
    return {m.id: sizes[m.target] for m in spec.monitors if m.target in sizes}


def from_simulation(
    run: str,
    frame: SimFrame,
    *,
    sizes: Mapping[str, int] | None = None,
    state_dtype: Literal["float16", "float32"] = "float32",
    metrics: Mapping[str, npt.ArrayLike] | None = None,
    produced_at: float | None = None,
) -> bytes:
    """Encodes one ``simcore.Frame`` of run ``run`` (``sizes``: ``monitor_sizes(spec)``)."""
    arrays: dict[str, npt.ArrayLike] = {}
    kinds: list[str] = []
    start = np.uint64(frame.start_step)
    for name, spikes in frame.spikes.items():
        arrays[f"spikes/{name}/neurons"] = spikes.neurons.astype(np.uint32, copy=False)
        arrays[f"spikes/{name}/offsets"] = spikes.offsets
    for name, states in frame.states.items():
        arrays[f"states/{name}/neurons"] = states.neurons.astype(np.uint32, copy=False)
        arrays[f"states/{name}/offsets"] = (states.steps - start).astype(np.uint32)
        for variable, values in states.values.items():
            arrays[f"states/{name}/{variable}"] = values.astype(state_dtype)
    for name, rates in frame.rates.items():
        arrays[f"rates/{name}/offsets"] = (rates.steps - start).astype(np.uint32)
        arrays[f"rates/{name}/hz"] = rates.hz.astype(np.float32)
    for name, values in (metrics or {}).items():
        arrays[f"metrics/{name}"] = np.atleast_1d(np.asarray(values, dtype=np.float32))
    for kind, present in (
        ("spikes", frame.spikes),
        ("states", frame.states),
        ("rates", frame.rates),
        ("metrics", metrics),
    ):
        if present:
            kinds.append(kind)
    changes = tuple(Change(c.kind, c.target, c.value, c.step) for c in frame.changes)
    header = Header(
        run=run,
        index=frame.index,
        kinds=tuple(kinds),
        start=frame.start_step,
        end=frame.end_step,
        dt=frame.dt,
        applies_from=frame.start_step if changes else None,
        changes=changes,
        sizes=dict(sizes or {}),
        produced_at=time.time() if produced_at is None else produced_at,
    )
    return encode(header, arrays)


def from_metrics(
    run: str,
    index: int,
    start: int,
    end: int,
    metrics: Mapping[str, npt.ArrayLike],
    *,
    produced_at: float | None = None,
) -> bytes:
    """A training frame: ``metrics`` (loss, accuracy, ...: one value or one per batch) over
    epochs or batches ``[start, end)`` (``dt`` is 0: the steps are not time)."""
    header = Header(
        run=run,
        index=index,
        kinds=("metrics",),
        start=start,
        end=end,
        dt=0.0,
        produced_at=time.time() if produced_at is None else produced_at,
    )
    arrays = {
        f"metrics/{name}": np.atleast_1d(np.asarray(values, dtype=np.float32))
        for name, values in metrics.items()
    }
    return encode(header, arrays)
