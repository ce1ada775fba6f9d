"""One cell of an experiment, run in a child process of its own: forked from the
study's fork server (``run_forked``, the kit already imported: starting Python and
importing the kit cost about half a CPU-second a run), or by hand:

    python -m kit.experiment.cell '<a RunSpec as JSON (kit.run.spec)>'

It runs that spec as 'invoke run' would, on the testbed the spec names (in the lab lent
to it, or a new one), into runs/<cell id>/. Exit codes: 0 pass, 1 fail,
3 inconclusive (the lab did not hold the run's conditions), 2 error, 130 interrupted
(the lab removed, the run marked incomplete).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from kit.core.checks import Verdict
from kit.core.errors import KitError
from kit.core.record import RunRecord
from kit.experiment.spec import Cell, Experiment
from kit.run.session import RunSession
from kit.run.spec import RunSpec
from kit.scenarios.custom import CustomScenario
from kit.testbeds.base import Lease
from kit.testbeds.factory import close_connections, provider_from_json

EXIT_CODES = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.INCONCLUSIVE: 3}
STATUSES = {code: verdict for verdict, code in EXIT_CODES.items()} | {130: "interrupted"}


def main(argv: list[str]) -> int:
    spec = RunSpec.from_json(json.loads(argv[0]))
    provider = provider_from_json(spec.testbed or {})
    with provider.cell_testbed(spec.lab, spec.mount, spec.shapes_a_link()) as testbed:
        outcome = RunSession.of(spec, testbed).run()
    return EXIT_CODES.get(outcome.verdict, 1)


def cell_spec(cell: Cell, experiment: Experiment, directory: Path, testbed: dict | None,
              engine: dict | None, base_image: str, lease: Lease | None = None) -> RunSpec:
    """The run a cell is (``testbed``: its provider's to_json(); ``engine``: the shaping
    chosen for its link), into ``directory``/runs/<cell id>."""
    scenario = cell.run.scenario
    return RunSpec(scenario.name, cell.variant, experiment.params, directory / "runs",
                   tuple(cell.link.items()),
                   scenario.spec if isinstance(scenario, CustomScenario) else None,
                   base_image, testbed, lease.to_json() if lease else None, engine,
                   directory_name=cell.id,
                   experiment={"name": experiment.name, "cell": cell.id,
                               "axes": dict(cell.axes), "repetition": cell.repetition,
                               "run": cell.run.label})


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


def status_of(exitcode: int | None, run_directory: Path, log: Path) -> str:
    """A cell's outcome from its process's exit status. A status no cell gives (255: the
    fork server can lose it under load, CPython issue 140867) leaves the run's own record
    to say: a complete run.json holds its verdict."""
    if exitcode in STATUSES or exitcode == 2:    # 2: the run said why in its log
        return STATUSES.get(exitcode, "error")
    with log.open("a") as said:
        said.write(f"the run's process ended with {ended_how(exitcode)}, not with a verdict\n")
    try:
        record = RunRecord.load(run_directory)
    except KitError:
        return "error"
    if record.complete and record.verdict in EXIT_CODES:
        with log.open("a") as said:
            said.write(f"its run.json is complete: {record.verdict}\n")
        return record.verdict.value
    return "error"


def ended_how(exitcode: int | None) -> str:
    """A child process's end as multiprocessing reports it (a signal as -N)."""
    if exitcode is None:
        return "no exit status"
    if exitcode < 0:
        return f"signal {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


def run_forked(request: str, log: str) -> None:
    """A cell in a process of the fork server: a session of its own (the terminal's
    Ctrl-C reaches the study, which passes it on), its output in ``log``."""
    os.setsid()
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    nothing = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((nothing, 0), (output, 1), (output, 2)):
        os.dup2(source, target)
    os.close(output)
    os.close(nothing)
    try:
        code = exit_code([request])
    finally:
        close_connections()   # multiprocessing ends this process with os._exit: no atexit
    sys.exit(code)


if __name__ == "__main__":
    sys.exit(exit_code(sys.argv[1:]))
