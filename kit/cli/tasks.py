"""The kit's tasks: each one parses its options and calls into kit.cli.commands. The
checkout's tasks.py adds the developers' tasks; the installed ``netkit`` command
(kit.cli.program) serves these as they are.

    invoke run --scenario close          both variants of the lesson's experiment
    netkit run --scenario close          the same, from any directory
    invoke --help run                    every option
"""

from __future__ import annotations

import functools
import gc
import inspect
import sys

from invoke import Collection, task
from invoke.exceptions import Exit

from kit.core.defaults import DEFAULT_BASE_IMAGE
from kit.core.run_options import RUN_OPTIONS, help_texts
from kit.impair.options import LINK_HELP, LINK_OPTIONS


def _boundary(function):
    """Turn the kit's errors into one line and an exit code; never a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from kit.core.errors import KitError

        try:
            return function(*args, **kwargs)
        except KitError as error:
            raise Exit(f"error: {error}", code=error.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
        finally:
            # The process ends soon: what it holds now need not be searched for cycles by
            # the collections of Python's exit, which took 0.15 s with the kit's ~900
            # modules on a 2-core machine (docs/benchmarks.md). Nothing else changes.
            gc.freeze()

    return wrapper


def with_options(*options):
    """Add options declared in a table (kit/core/run_options.py, kit/impair/options.py:
    each with a name and a default) to a task: they reach it as keyword arguments, and
    --help lists them."""

    def add(function):
        signature = inspect.signature(function)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [inspect.Parameter(option.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                   default=option.default) for option in options]
        function.__signature__ = signature.replace(parameters=own + added)
        return function

    return add


@task(
    help={**help_texts(), **LINK_HELP},
    iterable=[option.name for option in RUN_OPTIONS if option.repeatable],
    # Thirty options leave no meaningful one-letter flags (invoke even made '--=' one).
    auto_shortflags=False,
)
@_boundary
@with_options(*RUN_OPTIONS, *LINK_OPTIONS)
def run(c, **options):
    """Run a scenario between a client and a server container; exit 0 if every check passed.

    The link between them can be impaired (--latency 100ms --loss 1% ...), and your own
    programs can replace the kit's (--server-command, --client-command)."""
    from kit.cli import commands

    code = commands.run(**options)
    if code:
        raise Exit(code=code)


@task
@_boundary
def scenarios(c):
    """List the scenarios, their variants and the lesson's claims they judge."""
    from kit.cli import commands
    from kit.core.progress import show

    show(commands.scenarios())


@task(help={"base_image": "base of the lab image (default debian:bookworm-slim)",
            "rebuild": "rebuild the lab image even if it is up to date"})
@_boundary
def build(c, base_image=DEFAULT_BASE_IMAGE, rebuild=False):
    """Build the lab image (and, without a registry, its base image with debootstrap)."""
    from kit.cli import commands

    commands.build(base_image, rebuild)


@task(help={"base_image": "base of the lab image (default debian:bookworm-slim)"})
@_boundary
def up(c, base_image=DEFAULT_BASE_IMAGE):
    """Start a client and a server container to explore by hand."""
    from kit.cli import commands

    commands.up(base_image)


@task(help={"run": "the run id of the lab (needed when several are up)",
            "all": "remove every lab that is up"})
@_boundary
def down(c, run=None, all=False):
    """Remove a lab started with 'up' (or kept with 'run --keep')."""
    from kit.cli import commands

    commands.down(run, every=all)


@task(help={"file": "the experiment file (experiments/*.yaml; docs/experiments.md)",
            "parallel": "labs at a time (default 1)",
            "out": "where the experiment's directory goes (default results/: "
                   "results/experiments/<name>/)",
            "base_image": "base of the lab image (default debian:bookworm-slim)",
            "junit": "also write a JUnit XML report there: a test suite per run of the "
                     "study, a test case per check",
            "fresh_labs": "a new lab for every run (default: at most --parallel labs, each "
                          "reset between runs; run.json's environment.lab says which)",
            "cluster": "spread the runs over a Dask cluster's Docker hosts: local:N (N "
                       "workers here) or the scheduler's tcp://host:port (tls://...)",
            "testbed": "a testbed file: run the cells between its two machines over SSH, "
                       "one at a time (docs/testbeds.md)",
            "accept_new_host_keys": "with --testbed: trust a machine's host key the first "
                                    "time it is seen, and record it"})
@_boundary
def experiment(c, file, parallel="1", out="results", base_image=DEFAULT_BASE_IMAGE,
               junit=None, fresh_labs=False, cluster=None, testbed=None,
               accept_new_host_keys=False):
    """Run an experiment file: its cells --parallel N at a time, in labs reset between
    runs, on a Dask cluster's Docker hosts (--cluster), or between two machines
    (--testbed); run it again to resume after Ctrl-C. Exit 0 if every run passed."""
    from kit.cli import studies

    code = studies.experiment(file, parallel, out, base_image, junit, fresh_labs, cluster,
                              testbed, accept_new_host_keys)
    if code:
        raise Exit(code=code)


@task(help={"directory": "a run directory, or an experiment's (each of its runs)",
            "out": "where the new runs go (default results/)",
            "junit": "also write a JUnit XML report of the new runs there",
            "testbed": "run it there instead: a testbed file (machines over SSH), or "
                       "'docker' for a Docker lab (default: where it ran)",
            "accept_new_host_keys": "trust and record a machine's host key never seen "
                                    "before"})
@_boundary
def rerun(c, directory, out="results", junit=None, testbed=None, accept_new_host_keys=False):
    """Run again exactly what a run recorded (scenario, variant, parameters, link, your
    programs), where it ran (or on --testbed), then show both side by side; exit 1 if a
    check's verdict differs."""
    from kit.cli import rerun as rerunning

    code = rerunning.rerun(directory, out, junit, testbed, accept_new_host_keys)
    if code:
        raise Exit(code=code)


@task(help={"first": "a run directory (or an experiment's)",
            "second": "another one (an experiment's runs are paired by cell)"})
@_boundary
def diff(c, first, second):
    """Compare two runs: each check's verdict, and what differed in what was asked for,
    the environment (kernel, engine, image) and the hosts' sysctls; exit 1 if a check's
    verdict differs."""
    from kit.cli import rerun as rerunning

    code = rerunning.diff(first, second)
    if code:
        raise Exit(code=code)


@task(help={"run": "the run id of the lab (needed when several are up)",
            "clear": "remove the kit's shaping from both hosts", **LINK_HELP},
      auto_shortflags=False)
@_boundary
@with_options(*LINK_OPTIONS)
def impair(c, run=None, clear=False, **link):
    """Impair the link of a lab that is up (replacing any earlier shaping), or --clear it;
    then measure the round trip it delivers."""
    from kit.cli import commands

    commands.impair(run, clear, link)


@task(help={"role": "client or server", "run": "the run id of the lab (when several are up)"})
@_boundary
def shell(c, role, run=None):
    """Open a shell in the client or server container of a lab that is up."""
    from kit.cli import commands

    raise Exit(code=commands.shell_exec(commands.shell_command(role, run)))


@task(help={"directory": "a run directory (default: the latest one in --out)",
            "out": "where to look for the latest run (default results/)"})
@_boundary
def logs(c, directory=None, out="results"):
    """Show the client's and the server's output of a run."""
    from kit.cli import commands

    sys.stdout.write(commands.logs(directory, out))


@task(help={"directory": "a run directory, or a results directory (every run in it)"})
@_boundary
def report(c, directory):
    """Rebuild summary.md, timeline.jsonl, sequence.svg and report.html offline."""
    from kit.cli import commands
    from kit.core.progress import say

    for path in commands.report(directory):
        say(f"wrote {path}")


@task(help={"images": "also remove the kit's images (they are rebuilt on the next run)",
            "testbed": "clean the machines of this testbed file instead: the run "
                       "directories, programs and tracefs instances killed runs left there",
            "accept_new_host_keys": "with --testbed: trust a machine's unknown host key "
                                    "(as for invoke run)"})
@_boundary
def clean(c, images=False, testbed=None, accept_new_host_keys=False):
    """Remove every container and network the kit left behind, found by label (with
    --testbed, what killed runs left on those machines, found by the kit's marks)."""
    from kit.cli import commands

    commands.clean(images, testbed, accept_new_host_keys)


@task(help={"scheduler": "the Dask scheduler's tcp://host:port (or tls://host:port)",
            "labs": "labs this Docker host holds at a time (default 1: a lab keeps about "
                    "half a core busy, a shaped one a core)",
            "base_image": "base of the lab image (default debian:bookworm-slim)"})
@_boundary
def worker(c, scheduler, labs="1", base_image=DEFAULT_BASE_IMAGE):
    """Serve a Dask cluster's studies from this Docker host (invoke experiment --cluster):
    checks Docker and makes the lab image here first, then runs a Dask worker offering
    that many labs. Stop it with Ctrl-C."""
    from kit.cli import studies

    raise Exit(code=studies.worker(scheduler, labs, base_image))


namespace = Collection(run, rerun, diff, experiment, scenarios, build, up, down, impair, shell,
                       logs, report, clean, worker)
