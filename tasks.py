"""Tasks of the netkit lab, in the checkout: the kit's own (kit/cli/tasks.py, which the
installed ``netkit`` command also serves) and the developers' (lint, test, mutate, bench).

    invoke run --scenario close          both variants of the lesson's experiment
    invoke --help run                    every option
"""

from __future__ import annotations

import os
import shlex
import sys

from invoke import Collection, task

from kit.cli.tasks import (
    build,
    clean,
    diff,
    down,
    experiment,
    impair,
    logs,
    report,
    rerun,
    run,
    scenarios,
    shell,
    up,
    worker,
)


@task
def lint(c):
    """Check the code: ruff (style, imports, likely bugs) and mypy (types), as configured in
    pyproject.toml."""
    c.run(f"{sys.executable} -m ruff check kit tasks.py tests")
    c.run(f"{sys.executable} -m mypy")


@task
def mutate(c):
    """Mutation testing of the verdict logic (kit/scenarios, kit/observe) with mutmut:
    each mutant is a small change the unit tests must notice; prints the score and the
    survivors (about 5 min on 2 cores; work is kept in mutants/ and resumed)."""
    from kit.cli.mutation import mutmut_command, score

    c.run(mutmut_command("run", "--max-children", str(os.cpu_count() or 1)), warn=True)
    print(score(c.run(mutmut_command("results", "--all", "true"), hide=True).stdout))


@task(pre=[lint], help={"unit": "unit tests only (no Docker needed)",
                        "k": "only tests matching this expression"})
def test(c, unit=False, k=None):
    """Check the code (invoke lint), then run the tests: unit tests, then integration tests
    on real containers (need Docker)."""
    from kit.cli import commands
    from kit.core.errors import KitError

    if not unit:
        try:
            # Build here, with progress shown, rather than silently inside a test fixture.
            commands.preflight()
            commands.build()
        except KitError as error:
            print(f"integration tests will not find a lab: {error}", file=sys.stderr)
    target = "tests/unit" if unit else "tests/unit tests/integration"
    selection = f" -k {shlex.quote(k)}" if k else ""
    # --durations: the slowest tests, so that CI's time stays in view as the suite grows.
    c.run(f"{sys.executable} -m pytest -ra --durations=10 {target}{selection}",
          pty=sys.stdout.isatty())


@task(help={"runs": "warm runs to measure (default 5)",
            "cold": "also measure the cold set-up on images of its own (default on)",
            "evidence": "only the ss-versus-kernel-trace and capture-cost figures",
            "link": "only how exact the link impairments are, per engine (docs/impairments.md)",
            "vm": "with --link: netem in the qemu VM too (default on; --no-vm leaves it out)",
            "parallel": "only a 40-run experiment at --parallel 1, 2, 4 and 8 (about 15 min)",
            "cpu": "only what a warm run costs in CPU-seconds, by process and by phase",
            "testbed": "only a run between this testbed file's machines over SSH, against "
                       "the same run in a Docker lab (phases, clock-offset uncertainty)",
            "cluster": "only the 40-run study on local Dask clusters of 1, 2 and 4 workers "
                       "against --parallel (what Dask adds per cell; about 15 min)",
            "pytest": "only a pytest session of 20 graceful runs through the netkit fixture, "
                      "labs shared (the default) against fresh: wall time, CPU-seconds, a "
                      "pooled run's own overhead (about 3 min)",
            "kernels": "only Debian's kernels 5.10, 6.1 and 6.12 under qemu (--kernel): the "
                       "VM image, the boot, and --runs runs of each close variant in one VM "
                       "(about 5 min with the images built; each missing image about 3 more)",
            "images": "only what a server run as an image (--server-image) costs against "
                      "the same server as a command in the kit's container: --runs runs "
                      "each, interleaved (about 1 min)"})
def bench(c, runs="5", cold=True, evidence=False, link=False, vm=True, parallel=False,
          cpu=False, testbed=None, cluster=False, pytest=False, kernels=False, images=False):
    """Benchmark: cold set-up, a warm run in a new lab and in one kept warm with --warm
    (scenario time vs overhead, CPU-seconds), a bare Compose cycle; --link: how exact the
    link impairments are, per engine; --parallel: how experiments scale with parallel labs;
    --cpu: only the CPU-seconds; --pytest: a pytest session of 20 runs, labs shared against
    fresh; --kernels: Debian's kernels under qemu; --images: a server run as an image
    against the same as a command."""
    extra = (("" if cold else " --no-cold") + (" --evidence" if evidence else "")
             + (" --link" if link else "") + ("" if vm else " --no-vm")
             + (" --parallel" if parallel else "") + (" --cpu" if cpu else "")
             + (" --pytest" if pytest else "") + (" --kernels" if kernels else "")
             + (" --images" if images else "")
             + (f" --testbed {shlex.quote(testbed)}" if testbed else "")
             + (" --cluster" if cluster else ""))
    c.run(f"{sys.executable} -m kit.bench --runs {shlex.quote(str(runs))}{extra}",
          pty=sys.stdout.isatty())


namespace = Collection(run, rerun, diff, experiment, scenarios, build, up, down, impair, shell,
                       logs, report, clean, worker, lint, test, mutate, bench)
