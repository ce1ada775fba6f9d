"""Running a recorded run again, and comparing runs: 'invoke rerun' and 'invoke diff'."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kit.cli.commands import execute
from kit.cli.request import rerun_request
from kit.core.errors import BadInput
from kit.core.progress import say, show
from kit.core.record import RunRecord
from kit.report.compare import compare_runs, side_by_side
from kit.report.junit import write_junit
from kit.run.result import RunResult


def run_directories(path: Path) -> list[Path]:
    """``path`` if it is a run directory, or the runs of the experiment directory it is."""
    if (path / "run.json").is_file():
        return [path]
    runs = sorted(p.parent for p in (path / "runs").glob("*/run.json"))
    if not runs:
        raise BadInput(f"{path} is neither a run directory (with run.json) nor an "
                       "experiment's directory (with runs/)")
    return runs


def rerun(directory: str, out: str = "results", junit: str | None = None,
          testbed: str | None = None, accept_new_host_keys: bool = False) -> int:
    """Run again what each run of ``directory`` ran (where it ran, or on ``testbed``),
    then compare; 1 if a check's verdict differs."""
    sources = run_directories(Path(directory))
    records = [RunRecord.load(source) for source in sources]
    # Every request is checked before the first lab starts.
    requests = [rerun_request(record, source, out, junit, testbed, accept_new_host_keys)
                for source, record in zip(sources, records)]
    outcomes: list[RunResult] = []
    try:
        for source, request in zip(sources, requests):
            say(f"running {source} again")
            outcomes += execute(replace(request, junit=None))
    finally:
        if junit and outcomes:
            write_junit(Path(junit), [o.directory for o in outcomes])
    return show_comparisons(list(zip(sources, records)),
                            [(o.directory, o.record) for o in outcomes])


def diff(first: str, second: str) -> int:
    """Compare two runs (or two experiments, cell by cell); 1 if a check's verdict
    differs."""
    before = run_directories(Path(first))
    after = {path.name: path for path in run_directories(Path(second))}
    if len(before) == 1 and len(after) == 1:
        pairs = [(before[0], next(iter(after.values())))]
    else:
        pairs = [(path, after[path.name]) for path in before if path.name in after]
        unmatched = sorted({p.name for p in before} ^ set(after))
        if unmatched:
            say(f"not in both: {', '.join(unmatched)}")
        if not pairs:
            raise BadInput(f"{first} and {second} have no run in common to compare")
    return show_comparisons([(a, RunRecord.load(a)) for a, _ in pairs],
                            [(b, RunRecord.load(b)) for _, b in pairs])


def show_comparisons(before: list[tuple[Path, RunRecord]],
                     after: list[tuple[Path, RunRecord]]) -> int:
    differ = False
    for (old, old_record), (new, new_record) in zip(before, after):
        comparison = compare_runs(old_record, new_record)
        show(side_by_side(old, new, comparison))
        differ |= comparison.checks_differ
    return 1 if differ else 0
