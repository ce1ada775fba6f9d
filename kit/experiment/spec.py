"""An experiment file: which runs, an impairment matrix, repetitions, parameters and
measures; validated in full, with file, line and field in every error, before anything
starts. docs/experiments.md describes the format."""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from kit.core.errors import BadInput
from kit.core.kernels import check_kernel
from kit.core.parameters import PARSERS, parse_parameter
from kit.core.units import duration, image_name
from kit.core.yamlsource import Source, load, parse
from kit.impair.options import NAMES as LINK_NAMES
from kit.impair.spec import parse_link, parse_values
from kit.scenarios import CATALOG, RunParameters, Scenario
from kit.scenarios.base import ScriptStep
from kit.scenarios.custom import CHECK_KINDS, CustomScenario, ProgramsSpec, check_spec

TOP_LEVEL = ("name", "description", "images", "runs", "parameters", "link", "matrix",
             "repetitions", "measures")
PARAMETERS = tuple(PARSERS)
MEASURES = ("close_to_peer_end", "handshake_rtt", "state_durations", "retransmissions",
            "script_time")
DEFAULT_MEASURES = ("close_to_peer_end", "handshake_rtt", "state_durations")
KERNEL = "kernel"     # the matrix axis that is not a link option: the kernel each cell runs on
AXES = (*LINK_NAMES, KERNEL)


@dataclass(frozen=True)
class RunEntry:
    """One entry of ``runs``: a catalog scenario's variants, or your own programs."""

    label: str
    scenario: Scenario
    variants: tuple[str, ...]
    mount: str | None = None


@dataclass(frozen=True)
class Cell:
    """One run of the experiment, in a lab of its own."""

    id: str
    run: RunEntry
    variant: str
    axes: tuple[tuple[str, str], ...]     # the matrix values of this cell, in axis order
    repetition: int
    link: dict                           # every link option of the cell (text values)

    @property
    def kernel(self) -> str | None:
        """The kernel axis's value (a Debian kernel, or host), if the matrix has one."""
        return dict(self.axes).get(KERNEL)


@dataclass(frozen=True)
class Experiment:
    name: str
    path: Path
    description: str
    runs: tuple[RunEntry, ...]
    params: RunParameters
    link: dict                           # fixed link options
    matrix: tuple[tuple[str, tuple[str, ...]], ...]
    repetitions: int
    measures: tuple[str, ...]
    text: str = field(default="", repr=False)
    # Images built here before the study: (name, a directory with a Dockerfile).
    builds: tuple[tuple[str, str], ...] = ()

    @property
    def images(self) -> tuple[str, ...]:
        """Your programs' images, each once."""
        return tuple(dict.fromkeys(image for run in self.runs
                                   if isinstance(run.scenario, CustomScenario)
                                   for image in run.scenario.spec.images()))

    @property
    def kernels(self) -> tuple[str, ...]:
        """The kernel axis's values, in the file's order; () without one."""
        return dict(self.matrix).get(KERNEL, ())

    def cells(self) -> list[Cell]:
        axes = [name for name, _ in self.matrix]
        combinations = list(itertools.product(*(values for _, values in self.matrix))) or [()]
        cells = []
        for run in self.runs:
            for variant in run.variants:
                for values in combinations:
                    pairs = tuple(zip(axes, values))
                    link = {**self.link, **{a: v for a, v in pairs if a != KERNEL}}
                    for repetition in range(1, self.repetitions + 1):
                        cells.append(Cell(cell_id(run.label, variant, pairs, repetition), run,
                                          variant, pairs, repetition, link))
        return cells


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(text).replace("%", "pct")).strip("-")


def cell_id(label: str, variant: str, axes: tuple[tuple[str, str], ...], repetition: int) -> str:
    """A stable, readable directory name: the same cell always gets the same one, so an
    interrupted experiment resumes where it stopped."""
    parts = [slug(label), slug(variant)] + [f"{slug(a)}-{slug(v)}" for a, v in axes]
    return "_".join(parts) + f"_r{repetition}"


def _mapping(source: Source, where: tuple, value, allowed: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise source.error(where, "must be a mapping (key: value lines)")
    for key in value:
        if key.replace("-", "_") not in allowed:
            raise source.error(where + (key,), f"unknown field; allowed: {', '.join(allowed)}")
    return {key.replace("-", "_"): item for key, item in value.items()}


def _list(source: Source, where: tuple, value) -> list:
    if not isinstance(value, list) or not value:
        raise source.error(where, "must be a non-empty list")
    return value


def _pinned(source: Source, where: tuple, function, *args, **kwargs):
    """Call a validator; its BadInput comes back with file, line and field."""
    try:
        return function(*args, **kwargs)
    except BadInput as error:
        raise source.error(where, str(error)) from None


def load_experiment(path: Path, text: str | None = None) -> Experiment:
    """The experiment file ``path``; or ``text`` as that file would hold it (a study made
    in memory, which writes it in its directory)."""
    source = load(path) if text is None else parse(text, path)
    data = _mapping(source, (), source.data, TOP_LEVEL)
    name = str(data.get("name") or path.stem)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise source.error(("name",), f"must be letters, digits, '.', '_' or '-': got {name!r}")
    if "runs" not in data:
        raise source.error((), "needs 'runs': the scenarios (or programs) to run")
    runs = tuple(_run(source, ("runs", index), entry, path.parent)
                 for index, entry in enumerate(_list(source, ("runs",), data["runs"])))
    labels = [run.label for run in runs]
    if len(set(labels)) != len(labels):
        raise source.error(("runs",), f"two runs share a name: {labels}")
    params = _parameters(source, data.get("parameters", {}))
    link = {key: str(value) for key, value in
            _mapping(source, ("link",), data.get("link", {}), LINK_NAMES).items()}
    for key, value in link.items():
        _pinned(source, ("link", key), parse_values, **{key: value})
    matrix = []
    raw_matrix = data.get("matrix", {})
    for axis, values in _mapping(source, ("matrix",), raw_matrix, AXES).items():
        key = next(k for k in raw_matrix if k.replace("-", "_") == axis)
        values = _axis_values(source, key, axis, _list(source, ("matrix", key), values))
        if axis in link:
            raise source.error(("matrix", key), "is also under 'link': give it in one place")
        matrix.append((axis, values))
    repetitions = data.get("repetitions", 1)
    if not isinstance(repetitions, int) or not 1 <= repetitions <= 1000:
        raise source.error(("repetitions",), f"must be a whole number from 1 to 1000: "
                                             f"got {repetitions!r}")
    measures = tuple(data.get("measures", DEFAULT_MEASURES))
    for index, measure in enumerate(measures):
        if measure not in MEASURES:
            raise source.error(("measures", index), f"unknown measure {measure!r}: choose "
                                                    f"from {', '.join(MEASURES)}")
    experiment = Experiment(name, path, str(data.get("description", "")), runs, params, link,
                            tuple(matrix), repetitions, measures,
                            path.read_text() if text is None else text,
                            _builds(source, data.get("images", {}), path.parent))
    # Every combination must make a valid link (--reorder needs --latency, and so on).
    for cell in experiment.cells():
        where = ("matrix",) if matrix else ("link",)
        _pinned(source, where, parse_link, **cell.link)
    return experiment


def _builds(source: Source, images, base_dir: Path) -> tuple[tuple[str, str], ...]:
    """'images: {NAME: DIRECTORY}': images the kit builds before the study, each from a
    directory (beside the file) with a Dockerfile."""
    if not isinstance(images, dict):
        raise source.error(("images",), "must map an image's name to the directory it is "
                                        "built from (with a Dockerfile)")
    builds = []
    for name, directory in images.items():
        where = ("images", name)
        _pinned(source, where, image_name, "an image's name", str(name), "my-app:1")
        context = (base_dir / str(directory)).resolve()
        if not (context / "Dockerfile").is_file():
            raise source.error(where, f"{context} has no Dockerfile to build {name} from")
        builds.append((str(name), str(context)))
    return tuple(builds)


def _axis_values(source: Source, key: str, axis: str, values: list) -> tuple[str, ...]:
    """A matrix axis's values, each checked, as text: a link option's as the link's
    options take them, a kernel's as written (5.10 is a version, not the number 5.1)."""
    texts = [source.texts.get(("matrix", key, index), str(value)) if axis == KERNEL
             else str(value) for index, value in enumerate(values)]
    for index, text in enumerate(texts):
        if axis == KERNEL:
            _pinned(source, ("matrix", key, index), check_kernel, text, KERNEL, host=True)
        else:
            _pinned(source, ("matrix", key, index), parse_values, **{axis: text})
    if len(set(texts)) != len(texts):
        raise source.error(("matrix", key), f"gives a value twice: {texts}")
    return tuple(texts)


def _parameters(source: Source, raw) -> RunParameters:
    values = _mapping(source, ("parameters",), raw, PARAMETERS)
    keys = {key.replace("-", "_"): key for key in (raw or {})}
    chosen = {name: _pinned(source, ("parameters", keys[name]), parse_parameter, name, value)
              for name, value in values.items()}
    return RunParameters(**chosen)


RUN_FIELDS = ("scenario", "variants")
PROGRAM_FIELDS = ("name", "server", "client", "server_image", "client_image", "input",
                  "finish_timeout", "mount", "checks")


def _run(source: Source, where: tuple, entry, base_dir: Path) -> RunEntry:
    if isinstance(entry, dict) and "scenario" in entry:
        values = _mapping(source, where, entry, RUN_FIELDS)
        name = values["scenario"]
        if name not in CATALOG:
            raise source.error(where + ("scenario",), f"unknown scenario {name!r}: choose one "
                                                      f"of {', '.join(sorted(CATALOG))}")
        scenario = CATALOG[name]
        variants = values.get("variants", list(scenario.variants))
        for index, variant in enumerate(_list(source, where + ("variants",), variants)):
            if variant not in scenario.variants:
                raise source.error(where + ("variants", index),
                                   f"scenario {name!r} has no variant {variant!r}: choose "
                                   f"from {', '.join(scenario.variants)}")
        return RunEntry(name, scenario, tuple(variants))
    values = _mapping(source, where, entry, PROGRAM_FIELDS)
    if "name" not in values:
        raise source.error(where, "needs 'name' (or 'scenario' for one of the kit's)")
    images = {role: _pinned(source, where + (f"{role}_image",), image_name,
                            f"{role}_image", values[f"{role}_image"], "nginx:1.27")
              for role in ("server", "client") if values.get(f"{role}_image") is not None}
    for role in ("server", "client"):
        if role not in values and role not in images:
            raise source.error(where, f"needs '{role}' (a command) or '{role}_image' (or "
                                      "'scenario' for one of the kit's)")
    commands = {role: _command(source, where + (role,), values[role]) if role in values
                else () for role in ("server", "client")}
    script = tuple(_input(source, where + ("input", index), step)
                   for index, step in enumerate(values.get("input", []) or []))
    finish = _pinned(source, where + ("finish_timeout",), duration, "finish_timeout",
                     values.get("finish_timeout", 10), 0.1, 600)
    checks = []
    for index, raw in enumerate(values.get("checks", []) or []):
        at = where + ("checks", index)
        if not isinstance(raw, dict) or "name" not in raw or len(raw) != 2:
            raise source.error(at, f"each check is 'name: ...' and one kind "
                                   f"({', '.join(CHECK_KINDS)}) with its options")
        kind = next(key for key in raw if key != "name")
        options = raw[kind]
        if not isinstance(options, dict):
            raise source.error(at + (kind,), "must be a mapping of the check's options")
        checks.append(_pinned(source, at + (kind,), check_spec, str(raw["name"]), kind, options))
    mount = None
    if values.get("mount") is not None:
        mount_path = (base_dir / str(values["mount"])).resolve()
        if not mount_path.is_dir():
            raise source.error(where + ("mount",), f"{mount_path} is not a directory")
        mount = str(mount_path)
    spec = ProgramsSpec(str(values["name"]), commands["server"], commands["client"], script,
                        finish, tuple(checks), mount, images.get("server"), images.get("client"))
    return RunEntry(spec.name, CustomScenario(spec), ("custom",), mount)


def _command(source: Source, where: tuple, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = shlex.split(value)
    if not isinstance(value, list) or not value:
        raise source.error(where, "must be a command: a list of arguments or one string")
    return tuple(str(part) for part in value)


def _input(source: Source, where: tuple, step) -> ScriptStep:
    if not isinstance(step, dict) or "at" not in step or \
            not ({"line", "close_stdin"} & set(step)):
        raise source.error(where, "each input step is {at: SECONDS, line: TEXT} or "
                                  "{at: SECONDS, close_stdin: true}")
    at = _pinned(source, where + ("at",), duration, "at", step["at"], 0, 3600)
    if step.get("close_stdin"):
        return ScriptStep(at, "", close_stdin=True)
    return ScriptStep(at, str(step["line"]))
