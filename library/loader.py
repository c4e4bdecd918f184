"""Reads ``library/<kind>/<name>/`` folders and checks what can be checked without running code.

``load_component`` refuses a folder with a ``ComponentError`` naming the file and the field at
fault (``library/neurons/lif/component.toml: parameters.tau_m.default: ...``);
``library.checks.validate`` goes on to run the reference implementation and compare it with
the engine. A component's files are kept as bytes with one content hash, which is what sync
stores and compares.
"""

from __future__ import annotations

import hashlib
import io
import re
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import msgspec

from library.schema import FOLDERS, Definition, Parameter
from simcore.spec import UNITS

ROOT = Path(__file__).resolve().parent
"""The repository's library folder."""
REPOSITORY = ROOT.parent

MANIFEST = "component.toml"
DESCRIPTION = "description.md"
MATH = "math.tex"
REQUIRED = (MANIFEST, DESCRIPTION, MATH)
EXTRA_SUFFIXES = {".md", ".tex", ".py", ".png", ".svg", ".jpg", ".jpeg", ".gif", ".pdf", ".bib"}
"""What else a component folder may carry: text, code, images and papers."""
EXTRA_UNITS = {"weight"}
"""Units a component may declare besides ``simcore.spec.UNITS``."""
MAX_FILES = 64


class ComponentError(ValueError):
    """A component that cannot be used: which file, which field, what is wrong."""

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file = file
        self.field = field
        self.message = message
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class LoadedComponent:
    """A component as read from its folder (or from an upload)."""

    definition: Definition
    files: Mapping[str, bytes]
    """Every file of the folder by its name (``component.toml``, ``math.tex``, ...)."""
    origin: str
    """How messages name the folder (``library/neurons/lif``)."""
    content_hash: str

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def kind(self) -> str:
        return self.definition.kind

    @property
    def version(self) -> str:
        return self.definition.version

    def text(self, file: str) -> str:
        return self.files[file].decode()


def content_hash(files: Mapping[str, bytes]) -> str:
    """One hash of a component's files (names and bytes), independent of their order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def folders(root: Path = ROOT) -> Iterator[Path]:
    """Every component folder under ``root``, kind by kind, then by name."""
    for folder in FOLDERS:
        kind_dir = root / folder
        if kind_dir.is_dir():
            yield from sorted(path for path in kind_dir.iterdir() if path.is_dir())


def load_library(root: Path = ROOT) -> list[LoadedComponent]:
    """Every component under ``root``; the first broken one raises ``ComponentError``."""
    return [load_component(folder) for folder in folders(root)]


def load_component(folder: Path) -> LoadedComponent:
    """The component in ``folder`` (``<root>/<kind folder>/<name>``), checked statically."""
    origin = _origin(folder)
    files: dict[str, bytes] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == "__pycache__":
            continue
        if path.is_file():
            files[path.name] = path.read_bytes()
    return load_files(files, origin, folder=folder.parent.name, name=folder.name)


def load_archive(data: bytes, origin: str = "upload") -> LoadedComponent:
    """A component uploaded as a zip of its folder's files (at the top or in one folder)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ComponentError(origin, "", "is not a zip archive") from None
    files: dict[str, bytes] = {}
    with archive:
        entries = [entry for entry in archive.infolist() if not entry.is_dir()]
        if len(entries) > MAX_FILES:
            raise ComponentError(origin, "", f"holds {len(entries)} files (at most {MAX_FILES})")
        paths = [PurePosixPath(entry.filename) for entry in entries]
        prefix = _common_folder(paths)
        for entry, path in zip(entries, paths, strict=True):
            relative = path.relative_to(prefix) if prefix else path
            if len(relative.parts) != 1 or relative.name.startswith("."):
                continue  # nested folders and hidden files are not part of a component
            files[relative.name] = archive.read(entry)
    return load_files(files, origin)


def _common_folder(paths: list[PurePosixPath]) -> PurePosixPath | None:
    tops = {path.parts[0] for path in paths if len(path.parts) > 1}
    if len(tops) == 1 and all(len(path.parts) > 1 for path in paths):
        return PurePosixPath(tops.pop())
    return None


def load_files(
    files: Mapping[str, bytes],
    origin: str,
    *,
    folder: str | None = None,
    name: str | None = None,
) -> LoadedComponent:
    """A component from its files; ``folder`` and ``name``: where it sits in a library."""
    for required in REQUIRED:
        if required not in files:
            raise ComponentError(f"{origin}/{required}", "", "is missing")
    for file in files:
        if PurePosixPath(file).suffix not in EXTRA_SUFFIXES | {".toml"} or (
            file.endswith(".toml") and file != MANIFEST
        ):
            raise ComponentError(
                f"{origin}/{file}",
                "",
                f"is not a kind of file a component may hold ({', '.join(sorted(EXTRA_SUFFIXES))})",
            )
    definition = parse_definition(files[MANIFEST], f"{origin}/{MANIFEST}")
    manifest = f"{origin}/{MANIFEST}"
    if folder is not None and FOLDERS.get(folder) != definition.kind:
        expected = FOLDERS.get(folder)
        raise ComponentError(
            manifest,
            "kind",
            f"is {definition.kind!r}, but the folder {folder}/ holds {expected or 'no'} components",
        )
    if name is not None and definition.name != name:
        raise ComponentError(
            manifest, "name", f"is {definition.name!r}, but the folder is called {name!r}"
        )
    for text in (DESCRIPTION, MATH):
        try:
            content = files[text].decode()
        except UnicodeDecodeError:
            raise ComponentError(f"{origin}/{text}", "", "is not UTF-8 text") from None
        if not content.strip():
            raise ComponentError(f"{origin}/{text}", "", "is empty")
    reference = definition.implementation.reference
    if reference not in files:
        raise ComponentError(
            manifest, "implementation.reference", f"names {reference!r}, which is not in the folder"
        )
    _check_fields(definition, manifest)
    return LoadedComponent(definition, dict(files), origin, content_hash(files))


def parse_definition(data: bytes, file: str) -> Definition:
    try:
        raw = tomllib.loads(data.decode())
    except UnicodeDecodeError:
        raise ComponentError(file, "", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ComponentError(file, "", f"is not valid TOML ({error})") from None
    try:
        return msgspec.convert(raw, Definition)
    except msgspec.ValidationError as error:
        message, field = _split(str(error), raw)
        raise ComponentError(file, field, message) from None


def _split(message: str, raw: object) -> tuple[str, str]:
    """msgspec's "Expected `str`, got `int` - at `$.parameters[0].unit`" as a field path
    that names list items by their ``name`` (``parameters.tau_m.unit``) and a message."""
    match = re.search(r" - at `\$(.*)`$", message)
    path, end = (match.group(1), match.start()) if match else ("", len(message))
    field, node = [], raw
    for part in re.findall(r"\.(\w+)|\[(\d+)\]", path):
        key, index = part
        if key:
            field.append(key)
            node = node.get(key) if isinstance(node, dict) else None
        else:
            node = node[int(index)] if isinstance(node, list) else None
            label = node.get("name") if isinstance(node, dict) else None
            field.append(label if isinstance(label, str) else index)
    text = message[:end]
    named = re.search(r"`(\w+)`", text)
    if named and text.startswith("Object missing required field"):
        field.append(named.group(1))
        text = "is required"
    elif named and text.startswith("Object contains unknown field"):
        field.append(named.group(1))
        text = "is not a known field (a typo?)"
    return text, ".".join(field)


def _check_fields(definition: Definition, file: str) -> None:
    seen: set[str] = set()
    for parameter in definition.parameters:
        field = f"parameters.{parameter.name}"
        if parameter.name in seen:
            raise ComponentError(file, field, "is declared twice")
        seen.add(parameter.name)
        _check_unit(parameter.unit, file, f"{field}.unit")
        _check_range(parameter, file, field)
    for state in definition.states:
        _check_unit(state.unit, file, f"states.{state.name}.unit")
    if definition.check.weight_unit not in UNITS:
        _check_unit(definition.check.weight_unit, file, "check.weight_unit")
    if not definition.references:
        raise ComponentError(file, "references", "cite at least one source (with its DOI)")
    implementation = definition.implementation
    if implementation.engine != "none":
        if not implementation.path and not implementation.symbol:
            raise ComponentError(
                file,
                "implementation.path",
                f"an {implementation.engine} implementation needs the path of its source "
                "(or the symbol that implements it)",
            )
        if implementation.path and not (REPOSITORY / implementation.path).is_file():
            raise ComponentError(
                file, "implementation.path", f"{implementation.path!r} is not a file"
            )
    for name in definition.check.parameters:
        if name not in seen:
            raise ComponentError(file, f"check.parameters.{name}", "is not a parameter")


def _check_unit(unit: str, file: str, field: str) -> None:
    if unit not in UNITS and unit not in EXTRA_UNITS:
        known = ", ".join([*UNITS, *sorted(EXTRA_UNITS)])
        raise ComponentError(file, field, f"{unit!r} is not a known unit (known: {known})")


def _check_range(parameter: Parameter, file: str, field: str) -> None:
    low, high = parameter.min, parameter.max
    if low is not None and high is not None and low > high:
        raise ComponentError(file, f"{field}.min", f"{low} is above max {high}")
    if parameter.default is None:
        return
    values = parameter.default if isinstance(parameter.default, list) else [parameter.default]
    for value in values:
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
            raise ComponentError(
                file,
                f"{field}.default",
                f"{value} {parameter.unit} is outside the allowed range {bounds} {parameter.unit}",
            )


def si(value: float, unit: str) -> float:
    """``value`` of ``unit`` in SI (``weight`` and ``1`` are taken as they are)."""
    return value * UNITS[unit][1] if unit in UNITS else value


def _origin(folder: Path) -> str:
    try:
        return str(folder.resolve().relative_to(REPOSITORY))
    except ValueError:
        return str(folder)
