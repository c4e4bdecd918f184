"""The library's loader and checks: every kind of mistake in a component is refused with a
message naming the file and the field; the repository's components all pass."""

from __future__ import annotations

import io
import re
import shutil
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from library.checks import validate
from library.loader import ROOT, ComponentError, load_archive, load_component, load_library
from simcore.agreement import run as engine

LIF = ROOT / "neurons" / "lif"


def broken(tmp_path: Path, source: Path, edit: Callable[[Path], None]) -> Path:
    """A copy of ``source`` in a library under ``tmp_path``, changed by ``edit``."""
    folder = tmp_path / source.parent.name / source.name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
    edit(folder)
    return folder


def replace_in(file: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / file
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, count))

    return edit


def refused(folder: Path, *, with_engine: bool = False) -> ComponentError:
    with pytest.raises(ComponentError) as caught:
        validate(load_component(folder), engine if with_engine else None)
    return caught.value


@pytest.mark.parametrize(
    ("source", "file", "old", "new", "where", "words"),
    [
        # schema: a required field missing, a field of the wrong type, an unknown field
        (
            LIF,
            "component.toml",
            'summary = "',
            'sumary = "',
            "component.toml: sumary",
            "not a known field",
        ),
        (
            LIF,
            "component.toml",
            'summary = "',
            '# summary = "',
            "component.toml: summary",
            "is required",
        ),
        (LIF, "component.toml", 'version = "1.0.0"', "version = 1", "version", "str"),
        (LIF, "component.toml", 'version = "1.0.0"', 'version = "1.0"', "version", ""),
        # units must be among simcore.spec's
        (
            LIF,
            "component.toml",
            'unit = "ms"',
            'unit = "fortnight"',
            "parameters.tau_m.unit",
            "not a known unit",
        ),
        # defaults inside their range, ranges in order
        (
            LIF,
            "component.toml",
            "default = 10.0",
            "default = -3.0",
            "parameters.tau_m.default",
            "outside the allowed range",
        ),
        (LIF, "component.toml", "max = 1000000.0", "max = 0.0001", "parameters.tau_m", ""),
        # references need a DOI
        (LIF, "component.toml", 'doi = "10.', 'doi = "not-a-doi', "references", "10"),
        # the kind must be the folder's, the name the folder's name
        (LIF, "component.toml", 'kind = "neuron"', 'kind = "synapse"', "kind", "neurons/"),
        (LIF, "component.toml", 'name = "lif"', 'name = "lif2"', "name", "folder"),
        # the engine's source must exist
        (
            LIF,
            "component.toml",
            "neurons/lif.rs",
            "neurons/nope.rs",
            "implementation.path",
            "not a file",
        ),
        # the reference implementation must run and define the protocol's function
        (
            LIF,
            "reference.py",
            "import math",
            "import math\nraise RuntimeError('broken')",
            "reference.py",
            "RuntimeError",
        ),
        (
            LIF,
            "reference.py",
            "def simulate(",
            "def simulate_it(",
            "reference.py: simulate",
            "is missing",
        ),
        (
            LIF,
            "reference.py",
            "trace[k] = v",
            "trace[k] = v if k < 3 else [][0]",
            "reference.py: simulate",
            "IndexError",
        ),
        (
            LIF,
            "reference.py",
            "trace[k] = v",
            "trace[k] = float('nan')",
            "reference.py",
            "not finite",
        ),
    ],
)
def test_each_kind_of_mistake_names_the_file_and_the_field(
    tmp_path: Path,
    source: Path,
    file: str,
    old: str,
    new: str,
    where: str,
    words: str,
) -> None:
    folder = broken(tmp_path, source, replace_in(file, old, new))
    error = refused(folder)
    message = str(error)
    assert str(folder) in message or "neurons/lif" in message
    assert where in message, message
    assert words in message, message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    for missing in ("math.tex", "description.md", "component.toml"):
        folder = broken(tmp_path / missing, LIF, lambda f, m=missing: (f / m).unlink())
        message = str(refused(folder))
        assert missing in message and "is missing" in message
    folder = broken(tmp_path / "ref", LIF, lambda f: (f / "reference.py").unlink())
    message = str(refused(folder))
    assert "implementation.reference" in message and "reference.py" in message


def test_bad_toml_and_empty_text_are_named(tmp_path: Path) -> None:
    folder = broken(tmp_path / "toml", LIF, replace_in("component.toml", "[implementation]", "[x"))
    assert re.search(r"component\.toml: is not valid TOML \(.*line", str(refused(folder)))
    folder = broken(tmp_path / "md", LIF, lambda f: (f / "description.md").write_text("  \n"))
    assert "description.md: is empty" in str(refused(folder))
    folder = broken(tmp_path / "exe", LIF, lambda f: (f / "run.exe").write_bytes(b"MZ"))
    assert "run.exe" in str(refused(folder))


def test_the_engine_and_the_reference_must_agree(tmp_path: Path) -> None:
    # a reference that resets 1 mV too high: runs fine alone, disagrees with the engine
    folder = broken(
        tmp_path,
        LIF,
        replace_in("reference.py", "v, counter = v_reset,", "v, counter = v_reset + 1e-3,"),
    )
    validate(load_component(folder))  # alone, it runs
    error = refused(folder, with_engine=True)
    assert error.field == "check"
    assert "component.toml" in error.file
    assert "simcore/engine/src/neurons/lif.rs" in str(error) and "disagree" in str(error)


@pytest.mark.parametrize(
    ("source", "file", "old", "new"),
    [
        (ROOT / "synapses" / "alpha_current", "reference.py", "np.exp(1 - t", "np.exp(1.01 - t"),
        (
            ROOT / "plasticity" / "stdp",
            "reference.py",
            "else x_pre + 1.0",
            "else x_pre + 1.5",
        ),
        (ROOT / "inputs" / "step_current", "reference.py", "t / dt + 0.5", "t / dt + 1.5"),
        (ROOT / "surrogates" / "triangle", "reference.py", "1.0 - alpha", "1.1 - alpha"),
        (ROOT / "layers" / "conv2d", "reference.py", "+ b\n", "- b\n"),
        (
            ROOT / "connectors" / "fixed_indegree",
            "reference.py",
            "range(n_post)",
            "range(n_post - 1)",
        ),
    ],
)
def test_disagreement_is_caught_for_every_protocol(
    tmp_path: Path, source: Path, file: str, old: str, new: str
) -> None:
    folder = broken(tmp_path, source, replace_in(file, old, new))
    error = refused(folder, with_engine=True)
    assert error.field == "check", error
    assert "disagree" in str(error)


def test_an_uploaded_zip_loads_like_a_folder_and_is_checked_the_same(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in LIF.iterdir():
            if path.is_file():
                archive.write(path, f"lif/{path.name}")
    component = load_archive(buffer.getvalue())
    assert component.definition.name == "lif"
    assert component.content_hash == load_component(LIF).content_hash
    with pytest.raises(ComponentError, match="not a zip"):
        load_archive(b"not a zip")


def test_every_component_of_the_repository_is_valid_and_well_formed() -> None:
    components = load_library()
    names = {(c.kind, c.name) for c in components}
    expected = (
        {
            ("neuron", n)
            for n in (
                "lif",
                "lif_cond",
                "adex",
                "izhikevich",
                "leaky_integrator",
                "hodgkin_huxley",
                "perceptron",
                "relu",
                "sigmoid",
                "tanh",
            )
        }
        | {
            ("synapse", n)
            for n in (
                "delta",
                "exp_current",
                "exp_conductance",
                "alpha_current",
                "alpha_conductance",
            )
        }
        | {("plasticity", "stdp"), ("plasticity", "triplet_stdp")}
        | {
            ("connector", n)
            for n in (
                "all_to_all",
                "one_to_one",
                "fixed_probability",
                "fixed_indegree",
                "fixed_outdegree",
                "explicit",
            )
        }
        | {("generator", n) for n in ("poisson", "spike_times", "constant_current", "step_current")}
        | {("surrogate", n) for n in ("fast_sigmoid", "arctan", "sigmoid", "triangle")}
        | {
            ("layer", n)
            for n in ("linear", "conv2d", "maxpool2d", "avgpool2d", "batchnorm", "dropout")
        }
    )
    assert expected <= names
    reference_only = {c.name for c in components if c.definition.reference_only}
    assert reference_only == {"hodgkin_huxley", "triplet_stdp"}
    for component in components:
        raw = tomllib.loads(component.text("component.toml"))
        assert raw["references"], component.origin
        for reference in component.definition.references:
            assert reference.doi.startswith("10."), component.origin


def test_the_surrogates_in_the_library_are_the_trainers() -> None:
    from simcore.train.surrogate import SURROGATES

    library = {c.name: c for c in load_library() if c.kind == "surrogate"}
    assert set(library) == set(SURROGATES)
    for name, registered in SURROGATES.items():
        alpha = next(p for p in library[name].definition.parameters if p.name == "alpha")
        assert alpha.default == registered.alpha


@pytest.mark.slow
def test_every_engine_implementation_agrees_with_its_reference() -> None:
    for component in load_library():
        validate(component, engine)
