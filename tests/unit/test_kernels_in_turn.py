"""'invoke run --kernel A --kernel B': each kernel's runs in turn, in a directory of their
own, then the claims × kernels table and one JUnit report over all; with a stand-in for
the runs (a recorded catalog run copied where each would go), so no VM boots here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kit.cli.kernels import kernels_asked, run_on_kernels
from kit.cli.request import RunRequest, build_request
from kit.core.errors import BadInput
from kit.run.result import RunResult
from kit.testbeds.docker.provider import DockerProvider
from kit.testbeds.kernel.provider import KernelProvider

CATALOG_DATA = Path(__file__).resolve().parent.parent / "data" / "catalog"


class RecordedRuns:
    """Runs each request as the recorded close/abrupt run; Ctrl-C on the kernel
    ``interrupt_on`` (a request asking for it)."""

    def __init__(self, interrupt_on: str | None = None):
        self.requests: list[RunRequest] = []
        self.interrupt_on = interrupt_on

    def __call__(self, request: RunRequest, written: list[Path]) -> list[RunResult]:
        self.requests.append(request)
        where = request.where
        if isinstance(where, KernelProvider) and where.kernel == self.interrupt_on:
            raise KeyboardInterrupt
        root = request.out / "20261207-000000-close-abrupt"
        shutil.copytree(CATALOG_DATA / "close-abrupt", root)
        written.append(root)
        return [RunResult.load(root)]


def test_the_kernels_asked_are_checked_and_given_once():
    assert kernels_asked(None) == [] and kernels_asked("6.1") == ["6.1"]
    assert kernels_asked(["6.12", "host", "6.12", "5.10"]) == ["6.12", "host", "5.10"]
    with pytest.raises(BadInput, match=r"--kernel 6\.2: choose one of 5\.10, 6\.1, 6\.12"):
        kernels_asked(["6.1", "6.2"])


def test_one_request_takes_one_kernel_and_host_is_this_machine():
    assert isinstance(build_request("close", kernel=["host"]).where, DockerProvider)
    assert isinstance(build_request("close", kernel="6.1").where, KernelProvider)
    with pytest.raises(BadInput, match="runs the kernels in turn"):
        build_request("close", kernel=["6.1", "6.12"])


def test_each_kernel_s_runs_go_in_turn_to_a_directory_of_their_own(tmp_path):
    runs = RecordedRuns()
    code = run_on_kernels("close", ["6.1", "host"], runs, {}, {
        "variant": "abrupt", "out": str(tmp_path), "junit": str(tmp_path / "all.xml")})
    assert code == 0
    first, second = runs.requests
    assert isinstance(first.where, KernelProvider) and first.where.kernel == "6.1"
    assert isinstance(second.where, DockerProvider)
    assert [first.out, second.out] == [tmp_path / "kernel-6.1", tmp_path / "kernel-host"]
    assert first.junit is None and second.junit is None
    table = next(tmp_path.glob("*-kernels.md")).read_text()
    assert "| 6.1 (6.18.44-fc-v657) | host (6.18.44-fc-v657) |" in table
    # One JUnit report holds both kernels' runs.
    assert (tmp_path / "all.xml").read_text().count("<testsuite ") == 2


def test_ctrl_c_on_a_kernel_keeps_the_table_of_the_kernels_before(tmp_path):
    runs = RecordedRuns(interrupt_on="6.12")
    with pytest.raises(KeyboardInterrupt):
        run_on_kernels("close", ["host", "6.12"], runs, {}, {
            "variant": "abrupt", "out": str(tmp_path), "junit": str(tmp_path / "all.xml")})
    table = next(tmp_path.glob("*-kernels.md")).read_text()
    assert "| host (" in table and "6.12" not in table
    assert (tmp_path / "all.xml").read_text().count("<testsuite ") == 1


def test_bad_input_for_any_kernel_stops_before_the_first_runs(tmp_path):
    runs = RecordedRuns()
    # A Docker lab takes your programs from --mount; a kernel's VM does not yet.
    with pytest.raises(BadInput, match="--mount is for Docker labs"):
        run_on_kernels(None, ["host", "6.1"], runs, {}, {
            "out": str(tmp_path / "out"), "mount": str(tmp_path),
            "server_command": "true", "client_command": "true"})
    assert runs.requests == [] and not (tmp_path / "out").exists()
