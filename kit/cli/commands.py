"""What each invoke task does; tasks.py only parses options and calls these."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.table import Table

from kit.cli.catalog import check_parallel, study_of
from kit.cli.kernels import kernels_asked, run_on_kernels
from kit.cli.request import ALL, RunRequest, build_request
from kit.cli.studies import run_study
from kit.core.checks import Verdict, why_inconclusive
from kit.core.command import command
from kit.core.errors import BadInput
from kit.core.progress import say, show
from kit.core.record import RunRecord, new_run_id
from kit.core.results import RunDirectory, atomic_write
from kit.core.roles import ROLES
from kit.core.run_options import BY_NAME
from kit.impair.apply import Place, clear_link, measure_rtt, rtt_summary, shaping_on
from kit.impair.options import NAMES as LINK_NAMES
from kit.impair.shaping import resolve_shaping, shape_lab
from kit.impair.spec import parse_link
from kit.report import render_comparison, write_reports
from kit.report.index import write_index
from kit.report.junit import write_junit
from kit.report.summary import comparison_table, verdict_word, write_comparison
from kit.run.result import RunResult
from kit.run.session import RunSession
from kit.scenarios import CATALOG
from kit.testbeds.base import Labs, Provider
from kit.testbeds.factory import (
    DEFAULT_BASE_IMAGE,
    build_images,
    kept_labs,
    provider_for,
    remove_killed_runs_scratch,
)


def run(scenario: str | None = None, **options: Any) -> int:
    """Run a scenario's variants; 0 if every check passed, else 1. ``options``: the run
    options by name (kit.core.run_options) and the link options (kit.impair.options),
    as the user gave them. Several runs share labs reset between runs, unless
    ``fresh_labs``; ``parallel`` runs that many at once (as a study: kit.cli.catalog)."""
    link = {name: value for name, value in options.items() if name in LINK_NAMES}
    asked = {name: value for name, value in options.items() if name not in LINK_NAMES}
    labs = BY_NAME["parallel"].check(asked.pop("parallel", "1"))
    kernels = kernels_asked(asked.pop("kernel", None))
    if len(kernels) > 1:
        if labs > 1:
            raise BadInput("--parallel with several --kernel: a kernel's VM holds one run "
                           "at a time, and the kernels take turns; leave out --parallel")
        return run_on_kernels(scenario, kernels, lambda request, written: execute(
            request, written=written), link, asked)
    request = build_request(scenario, link_options=link, kernel=kernels, **asked)
    if labs > 1 and request.where.one_at_a_time:
        raise BadInput(f"--parallel runs several labs at once; {request.where.where()} "
                       "holds one run at a time: leave out --parallel")
    check_parallel(request, labs)
    if labs > 1 and request.warm:
        raise BadInput("--parallel runs a study in labs of its own; --warm keeps one lab "
                       "for the next command: leave out one of them")
    if labs > 1:
        return run_study(study_of(request), labs, str(request.out), request.base_image,
                         request.junit, request.fresh_labs, None, request.where)
    outcomes = execute(request)
    return 0 if all(outcome.verdict == Verdict.PASS for outcome in outcomes) else 1


def execute(request: RunRequest,
            pools: Callable[[Provider, bool], Labs] | None = None,
            written: list[Path] | None = None) -> list[RunResult]:
    """Run what ``request`` asks for and show the outcomes. ``pools``: where labs kept
    across calls come from (a pytest session's), given where the runs happen and whether
    they trace; else the runs of a request that has several share labs of their own.
    ``written``: where each run's directory is added, also of a run that ended in an
    error (for a JUnit report over several requests)."""
    provider = request.where
    provider.preflight()
    provider.prepare(request.custom.spec.images() if request.custom else ())
    mount = request.custom.spec.mount if request.custom else None
    trace = request.params.kernel_trace
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outcomes: list[RunResult] = []
    written = [] if written is None else written
    labs = pools(provider, trace) if pools and request.may_share_labs else \
        provider.labs(trace=trace, shared=request.pooled, keep=request.keep,
                      shapes=request.shapes_a_link(), warm=request.warm)
    try:
        # A session's pools outlive this call; labs of its own go with it.
        with nullcontext(labs) if pools and request.may_share_labs else labs:
            # Before anything is written (the machines checked first, over SSH): an
            # impairment the engine cannot apply is bad input.
            shaping = resolve_shaping(request.link, labs.netem_probe)
            if shaping is not None:
                say(f"link: {shaping.engine} engine ({shaping.reason})")
            for spec in request.specs(stamp, shaping):
                with labs.lease(mount) as bed:
                    session = RunSession.of(spec, bed)
                    try:
                        outcomes.append(session.run())
                    finally:
                        if session.written_to is not None:
                            written.append(session.written_to)
    except KeyboardInterrupt:
        say(f"interrupted: the lab was removed; results so far are in {request.out} "
            "(the interrupted run is marked incomplete)")
        raise
    finally:
        if request.junit:
            write_junit(request.junit, written)
    show_outcomes(request, outcomes, stamp)
    return outcomes


def show_outcomes(request: RunRequest, outcomes: list[RunResult], stamp: str) -> None:
    for scenario_name in dict.fromkeys(name for name, _ in request.runs):
        mine = [o for o in outcomes if o.record.scenario == scenario_name]
        show(comparison_table([(o.directory, o.record) for o in mine]))
        if len(mine) > 1:
            path = write_comparisons(request.out, [o.directory for o in mine],
                                     f"{stamp}-{scenario_name}")
            show(f"comparison: {path}")
    if request.scenario == ALL:
        index = write_index(request.out, [o.directory for o in outcomes], stamp)
        show(f"index of every claim: {index}")
    for outcome in outcomes:
        show(f"{outcome.record.scenario}/{outcome.record.variant}: "
             f"{verdict_word(outcome.record)} -> {outcome.directory}/report.html")
        if outcome.verdict == Verdict.INCONCLUSIVE:
            show(f"  {why_inconclusive(outcome.record.checks)}")


def preflight(base_image: str = DEFAULT_BASE_IMAGE) -> None:
    """Fail at once, before building or writing anything, if what a Docker lab needs
    (the engine, Compose) is missing."""
    provider_for(base_image=base_image).preflight()


def scenarios() -> Table:
    table = Table(title=f"scenarios ('{command('run --scenario NAME [--variant V]')}')")
    for column in ("scenario", "variant", "what happens", "claims"):
        table.add_column(column)
    for scenario in CATALOG.values():
        table.add_row(scenario.name, "", scenario.summary, " ".join(scenario.claims))
        for variant, description in scenario.variants.items():
            table.add_row("", variant, description, "")
    return table


def build(base_image=DEFAULT_BASE_IMAGE, rebuild=False) -> None:
    say(f"lab image {build_images(base_image, rebuild=rebuild)}")


def up(base_image=DEFAULT_BASE_IMAGE) -> str:
    run_id = "manual-" + new_run_id()
    kept_labs(base_image).up(run_id)
    return run_id


def pick_lab(run_id: str | None) -> str:
    labs = kept_labs().running()
    if run_id:
        if run_id not in labs:
            raise BadInput(f"no lab with run id {run_id!r} is up; running: "
                           f"{', '.join(labs) or 'none'} ('{command('up')}' starts one)")
        return run_id
    if len(labs) != 1:
        raise BadInput(f"no lab is up: '{command('up')}' starts one" if not labs else
                       f"several labs are up ({', '.join(labs)}): name one with --run")
    return labs[0]


def down(run_id: str | None = None, every: bool = False) -> None:
    kept = kept_labs()
    chosen = kept.running() if every else [pick_lab(run_id)]
    for lab_run_id in chosen:
        say(kept.down(lab_run_id))
    if not chosen:
        say("no lab is up")


def impair(run_id: str | None = None, clear: bool = False,
           link_options: dict | None = None) -> dict[str, Any]:
    """Shape (or, with ``clear``, unshape) the link of a lab that is up, then measure the
    round trip it delivers. Returns what was done, as run.json would record it."""
    link = parse_link(**(link_options or {}))
    if clear and not link.is_empty():
        raise BadInput("--clear removes the shaping: give it without impairment options")
    if not clear and link.is_empty():
        raise BadInput("say what to impair (--latency, --loss, --rate ...: "
                       f"'{command('--help impair')}' lists them), or give --clear")
    kept = kept_labs()
    lab_id = pick_lab(run_id)
    lab = kept.attach(lab_id)
    hosts, endpoints = lab.hosts, {role: lab.endpoint(role) for role in ROLES}
    shaping = None if clear else resolve_shaping(link, lambda: kept.netem_probe(lab_id))
    if shaping is None:
        clear_link(hosts, {role: Place(endpoint.interface, endpoint.workdir)
                           for role, endpoint in endpoints.items()})
        done: dict[str, Any] = {"cleared": True, "measured_rtt": rtt_summary(
            measure_rtt(hosts["server"], hosts["client"], endpoints["server"].address))}
    else:
        say(f"link: {shaping.engine} engine ({shaping.reason})")
        done = shape_lab(hosts, shaping, endpoints)   # replaces any earlier shaping
    for role, host in hosts.items():
        installed = shaping_on(host, endpoints[role].interface)
        say(f"{role}: {'; '.join(installed.splitlines()) if installed else 'unshaped'}")
    measured = done["measured_rtt"]
    say(f"lab {kept.name_of(lab_id)}: round trip now median {measured['median_ms']:g} ms, "
        f"p95 {measured['p95_ms']:g} ms ({len(measured['samples_ms'])} TCP handshakes)")
    return done


def shell_command(role: str, run_id: str | None = None) -> list[str]:
    if role not in ROLES:
        raise BadInput(f"shell takes 'client' or 'server': got {role!r}")
    return kept_labs().shell_command(role, pick_lab(run_id), terminal=sys.stdin.isatty())


def latest_run_directory(out="results") -> Path:
    runs = sorted(p for p in Path(out).glob("*/run.json"))
    if not runs:
        raise BadInput(f"no run directory in {out}: '{command('run --scenario close')}' makes one")
    return max(runs, key=lambda p: p.stat().st_mtime).parent


def logs(directory: str | None = None, out="results") -> str:
    root = Path(directory) if directory else latest_run_directory(out)
    if not (root / "run.json").exists():
        raise BadInput(f"{root} is not a run directory (it has no run.json)")
    parts = []
    for role in ROLES:
        path = root / "logs" / f"{role}.log"
        parts.append(f"== {role} ({path})\n" + (path.read_text() if path.exists() else "(none)\n"))
    return "\n".join(parts)


def write_comparisons(out: Path, roots: list[Path], prefix: str) -> Path:
    """<prefix>-comparison.md and <prefix>-report.html: the variants side by side."""
    records = [(root, RunRecord.load(root)) for root in roots]
    write_comparison(out, records, f"{prefix}-comparison.md")
    page = out / f"{prefix}-report.html"
    atomic_write(page, render_comparison(roots, out).encode())
    return page


def report(directory: str) -> list[Path]:
    """Rebuild the reports of a run directory, or of every run in a results directory."""
    root = Path(directory)
    if not root.is_dir():
        raise BadInput(f"{directory} is not a directory: give a run directory or --out's")
    runs = [root] if (root / "run.json").exists() else sorted(
        p.parent for p in root.glob("*/run.json"))
    if not runs:
        raise BadInput(f"{directory} holds no run (no run.json in it or its subdirectories)")
    for run_root in runs:
        write_reports(RunDirectory(run_root))
    written = [run_root / "report.html" for run_root in runs]
    # Runs started together (same stamp and scenario) get their side-by-side pages again.
    groups: dict[str, list[tuple[int, Path]]] = {}
    for run_root in runs:
        record = RunRecord.load(run_root)
        prefix = run_root.name[:len("YYYYmmdd-HHMMSS")] + f"-{record.scenario}"
        # In the catalog's order of variants, as a run of every variant writes them.
        order = list(CATALOG[record.scenario].variants) if record.scenario in CATALOG else []
        rank = order.index(record.variant) if record.variant in order else len(order)
        groups.setdefault(prefix, []).append((rank, run_root))
    for prefix, members in groups.items():
        if len(members) > 1:
            roots = [root for _, root in sorted(members)]
            written.append(write_comparisons(roots[0].parent, roots, prefix))
    # A whole-catalog run's index, where one was written, from the same runs.
    for index in sorted({run_root.parent for run_root in runs}):
        for existing in index.glob("*-all-index.md"):
            stamp = existing.name[:len("YYYYmmdd-HHMMSS")]
            catalog = [r for r in runs if r.parent == index and r.name.startswith(stamp)]
            written.append(write_index(index, catalog, stamp))
    return written


def clean(images=False, testbed: str | None = None, accept_new_host_keys=False) -> None:
    """Remove what killed runs left, by the kit's marks: on the Docker engine (and its
    images, with ``images``), or on the machines of ``testbed``."""
    for line in provider_for(testbed, accept_new_host_keys=accept_new_host_keys).clean(images):
        say(line)
    if testbed:
        return
    from kit.experiment.worker import remove_stale_scratch

    scratch = remove_stale_scratch()
    if scratch:
        say(f"removed {scratch} scratch directory(ies) of cluster workers that died mid-cell")
    killed = remove_killed_runs_scratch()
    if killed:
        say(f"removed {killed} scratch directory(ies) of kernel runs that were killed")


def shell_exec(command: list[str]) -> int:
    return subprocess.call(command)
