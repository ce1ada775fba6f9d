"""A YAML file (an experiment, a testbed) read with the line of every value, so an
error can name file, line and field ("experiments/sweep.yaml:12: matrix.latency[2]: ...")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kit.core.errors import BadInput


@dataclass
class Source:
    """The file's data, and where each value of it was written."""

    path: Path
    data: object
    lines: dict[tuple, int] = field(default_factory=dict)   # field path -> line (1-based)
    # Each scalar as written: a version 5.10 stays 5.10, where YAML reads the float 5.1.
    texts: dict[tuple, str] = field(default_factory=dict)

    def line(self, where: tuple) -> int:
        """The line of ``where``, or of the nearest enclosing field that has one."""
        while where not in self.lines and where:
            where = where[:-1]
        return self.lines.get(where, 1)

    def error(self, where: tuple, message: str) -> BadInput:
        return BadInput(f"{self.path}:{self.line(where)}: {field_name(where) or 'the file'}: "
                        f"{message}")


def field_name(where: tuple) -> str:
    """('matrix', 'latency', 2) -> 'matrix.latency[2]'."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load(path: Path, kind: str = "experiment file") -> Source:
    """``kind`` names the file in errors ('the experiment file', 'the testbed file')."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot read the {kind} {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise BadInput(f"{path} is not a text file in UTF-8 (byte {error.start}: "
                       f"{error.reason}): give {kind_article(kind)} (YAML)") from None
    return parse(text, path)


def parse(text: str, path: Path) -> Source:
    """``text``, as the file ``path`` would hold it (named in errors)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise BadInput(f"{where}: not valid YAML: {problem}") from None
    source = Source(path, None)
    scalars = yaml.SafeLoader("")   # types each scalar as YAML's safe loader does
    source.data = _convert(node, (), source, scalars) if node is not None else {}
    return source


def kind_article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _convert(node, where: tuple, source: Source, scalars: yaml.SafeLoader):
    source.lines.setdefault(where, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in result:
                raise BadInput(f"{source.path}:{key_node.start_mark.line + 1}: "
                               f"{field_name(where + (key,))}: given twice")
            source.lines[where + (key,)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, where + (key,), source, scalars)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, where + (index,), source, scalars)
                for index, item in enumerate(node.value)]
    source.texts[where] = node.value
    return scalars.construct_object(node, deep=True)
