"""The layout is the design: each layer of kit/ imports only the layers below it, no
module imports itself round a circle, only kit.testbeds.factory names the kinds of
testbed, and the link options are declared in one table that every consumer follows."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import tasks
from kit.experiment.spec import LINK_NAMES
from kit.impair.options import LINK_OPTIONS
from kit.impair.spec import parse_values

KIT = Path(__file__).resolve().parents[2] / "kit"
LAYERS = ["core", "hosts", "observe", "impair", "scenarios", "report", "testbeds", "run",
          "experiment", "cli", "bench"]


def test_every_layer_imports_only_the_layers_below_it():
    rank = {name: index for index, name in enumerate(LAYERS)}
    upward = []
    for path in sorted(KIT.rglob("*.py")):
        layer = path.relative_to(KIT).parts[0]
        if layer not in rank:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kit."):
                other = node.module.split(".")[1]
                if rank.get(other, -1) > rank[layer]:
                    upward.append(f"{path.relative_to(KIT)} imports {node.module}")
    assert not upward
    assert {p.name for p in KIT.iterdir() if p.is_dir() and p.name != "__pycache__"} \
        == set(LAYERS)


def kit_modules() -> dict[str, Path]:
    def name(path: Path) -> str:
        parts = list(path.relative_to(KIT.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return {name(path): path for path in sorted(KIT.rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The kit's modules ``path`` imports, at the top or inside a function. ``from
    package import module`` is an import of that module (the package's own __init__
    runs first whatever a module of it imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kit"):
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                found.add(module if module in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every set of modules that import one another round a circle (Tarjan's strongly
    connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while (popped := stack.pop()) != module:
                component.append(popped)
            if component:
                found.append(sorted([module, *component]))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_circle():
    modules = kit_modules()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    assert circles(graph) == []


def test_the_circle_finder_finds_a_circle_through_imports_inside_functions():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


# The benchmarks measure the Docker testbed itself (a bare Compose cycle, its labs).
MEASURES_TESTBEDS = "kit.bench"


def test_only_the_factory_names_a_kind_of_testbed():
    modules = kit_modules()
    naming = sorted(f"{name} imports {other}" for name, path in modules.items()
                    if not name.startswith(("kit.testbeds", MEASURES_TESTBEDS))
                    for other in imports_of(path, modules)
                    if other.startswith(("kit.testbeds.docker", "kit.testbeds.ssh")))
    assert naming == []


def test_the_link_options_table_drives_the_tasks_and_the_files():
    names = [option.name for option in LINK_OPTIONS]
    for task in (tasks.run, tasks.impair):
        parameters = inspect.signature(task.body).parameters
        assert all(name in parameters for name in names), task.name
        assert all(task.help[name] == option.help for name, option in zip(names, LINK_OPTIONS))
    assert list(LINK_NAMES) == names
    assert set(parse_values()) == {"direction", "impair_engine"}   # the defaults only
