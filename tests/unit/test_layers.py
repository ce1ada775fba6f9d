"""The layout is the design: each layer of kit/ imports only the layers below it, and the
link options are declared in one table that every consumer follows."""

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


def test_the_link_options_table_drives_the_tasks_and_the_files():
    names = [option.name for option in LINK_OPTIONS]
    for task in (tasks.run, tasks.impair):
        parameters = inspect.signature(task.body).parameters
        assert all(name in parameters for name in names), task.name
        assert all(task.help[name] == option.help for name, option in zip(names, LINK_OPTIONS))
    assert list(LINK_NAMES) == names
    assert set(parse_values()) == {"direction", "impair_engine"}   # the defaults only
