"""'invoke run --kernel 5.10 --kernel 6.1 --kernel host ...': the same runs on each
kernel in turn, each kernel's runs in a directory of their own (<out>/kernel-<label>),
then the claims × kernels table beside them (kit.report.kernels)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kit.cli.request import RunRequest, build_request
from kit.core.checks import Verdict
from kit.core.errors import BadInput
from kit.core.kernels import HOST, check_kernel
from kit.core.progress import say, show
from kit.core.run_options import BY_NAME
from kit.report.junit import write_junit
from kit.report.kernels import KernelColumn, write_kernel_table
from kit.run.result import RunResult

Execute = Callable[[RunRequest, list[Path]], list[RunResult]]


def kernels_asked(values: str | Sequence[str] | None) -> list[str]:
    """The kernels asked for, each once, in the order given; [] for none."""
    given = [values] if isinstance(values, str) else list(values or [])
    for value in given:
        check_kernel(value, host=True)
    return list(dict.fromkeys(given))


def run_on_kernels(scenario: str | None, kernels: list[str], execute: Execute,
                   link: dict[str, Any], asked: dict[str, Any]) -> int:
    """The runs ``asked`` on each of ``kernels``; 0 if every check passed on every one.
    Every kernel's request is checked before the first VM boots."""
    if asked.get("keep"):
        raise BadInput("--keep keeps one lab up: give one --kernel")
    out = BY_NAME["out"].check(asked.get("out") or BY_NAME["out"].default)
    junit = BY_NAME["junit"].check(asked["junit"]) if asked.get("junit") else None
    requests = {label: build_request(scenario, link_options=link, **{
        **asked, "kernel": None if label == HOST else label, "junit": None,
        "out": str(out / f"kernel-{label}")}) for label in kernels}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    columns: list[KernelColumn] = []
    results: list[RunResult] = []
    written: list[Path] = []
    try:
        for label, request in requests.items():
            say(f"on {'the Docker engine' if label == HOST else request.where.where()}: "
                f"runs in {request.out}")
            ran = execute(request, written)
            results += ran
            columns.append(KernelColumn(label, [result.directory for result in ran]))
    finally:
        if columns:
            show(f"every claim on each kernel: {write_kernel_table(out, columns, stamp)}")
        if junit:
            write_junit(junit, written)
    return 0 if all(result.verdict == Verdict.PASS for result in results) else 1
