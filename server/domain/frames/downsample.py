"""Per-viewer downsampling: the neurons a viewer chose at full resolution, the rest of each spike
monitor as a binned raster and a population rate, so what a viewer receives per frame is
bounded by its choice, not by the network's size."""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np
import numpy.typing as npt

from server.config import Settings
from server.domain.frames.schemas import Select
from simcore import frames

_MAX_COUNT = np.iinfo(np.uint16).max


@dataclass(frozen=True, slots=True, eq=False)
class Selection:
    neurons: dict[str, npt.NDArray[np.uint32]]
    rows: int
    columns: int
    key: tuple[object, ...]
    """Equal for equal selections (viewers that chose alike share one encoding)."""


def selection_of(control: Select, settings: Settings) -> Selection | None:
    """The viewer's choice, checked against the limits (``ValueError`` says which); None: the
    whole frame at full resolution."""
    if control.neurons is None:
        return None
    chosen = {
        monitor: np.unique(np.asarray(ids, dtype=np.uint32))
        for monitor, ids in sorted(control.neurons.items())
    }
    total = sum(ids.size for ids in chosen.values())
    if total > settings.frames_max_selected:
        raise ValueError(
            f"select: {total} neurons chosen; at most {settings.frames_max_selected} "
            "at full resolution (the rest come binned)"
        )
    if control.rows * control.columns > settings.frames_max_raster_cells:
        raise ValueError(
            f"select: a raster of {control.rows} x {control.columns} bins; at most "
            f"{settings.frames_max_raster_cells} bins"
        )
    key = (
        control.rows,
        control.columns,
        tuple((monitor, ids.tobytes()) for monitor, ids in chosen.items()),
    )
    return Selection(chosen, control.rows, control.columns, key)


def _monitors(frame: frames.Decoded, kind: str) -> list[str]:
    suffix = "/neurons"
    prefix = f"{kind}/"
    return [
        name[len(prefix) : -len(suffix)]
        for name in frame.arrays
        if name.startswith(prefix) and name.endswith(suffix)
    ]


def downsample(frame: frames.Decoded, selection: Selection) -> bytes:
    """``frame`` as ``selection`` asks (the layout in ``docs/frames.md``)."""
    header = frame.header
    steps = max(1, header.end - header.start)
    arrays: dict[str, npt.NDArray] = {}
    bins: dict[str, tuple[int, int]] = {}
    kinds: set[str] = set()
    for monitor in _monitors(frame, "spikes"):
        neurons = frame[f"spikes/{monitor}/neurons"]
        offsets = frame[f"spikes/{monitor}/offsets"]
        size = header.sizes.get(monitor) or (int(neurons.max()) + 1 if neurons.size else 1)
        chosen = selection.neurons.get(monitor)
        if chosen is not None and chosen.size:
            keep = np.isin(neurons, chosen)
            arrays[f"spikes/{monitor}/neurons"] = neurons[keep]
            arrays[f"spikes/{monitor}/offsets"] = offsets[keep]
            kinds.add("spikes")
        per_column = math.ceil(size / min(selection.columns, size))
        columns = math.ceil(size / per_column)
        per_row = math.ceil(steps / min(selection.rows, steps))
        rows = math.ceil(steps / per_row)
        cells = (offsets.astype(np.int64) // per_row) * columns + neurons // per_column
        counts = np.bincount(cells, minlength=rows * columns)[: rows * columns]
        raster = counts.reshape(rows, columns)
        arrays[f"raster/{monitor}"] = np.minimum(raster, _MAX_COUNT).astype(np.uint16)
        bins[f"raster/{monitor}"] = (per_row, per_column)
        row_steps = np.minimum(per_row, steps - np.arange(rows) * per_row)
        arrays[f"rates/{monitor}/offsets"] = (np.arange(rows) * per_row).astype(np.uint32)
        seconds = size * row_steps * header.dt
        hz = raster.sum(axis=1) / seconds if header.dt > 0 else np.zeros(rows)
        arrays[f"rates/{monitor}/hz"] = hz.astype(np.float32)
        kinds.update(("raster", "rates"))
    for monitor in _monitors(frame, "states"):
        chosen = selection.neurons.get(monitor)
        if chosen is None or not chosen.size:
            continue
        sampled = frame[f"states/{monitor}/neurons"]
        keep = np.isin(sampled, chosen)
        arrays[f"states/{monitor}/neurons"] = sampled[keep]
        arrays[f"states/{monitor}/offsets"] = frame[f"states/{monitor}/offsets"]
        prefix = f"states/{monitor}/"
        for name, values in frame.arrays.items():
            variable = name[len(prefix) :]
            if name.startswith(prefix) and variable not in ("neurons", "offsets"):
                arrays[name] = values[:, keep]
        kinds.add("states")
    spiking = set(_monitors(frame, "spikes"))
    for name, values in frame.arrays.items():
        kind, _, rest = name.partition("/")
        if (kind == "rates" and rest.rpartition("/")[0] not in spiking) or kind == "metrics":
            arrays[name] = values
            kinds.add(kind)
    ordered = tuple(k for k in ("spikes", "states", "rates", "raster", "metrics") if k in kinds)
    return frames.encode(msgspec.structs.replace(header, kinds=ordered), arrays, bins=bins)
