"""The kit's pytest plugin (registered as ``netkit`` under the ``pytest11`` entry point, so
installing the kit is enough). A test asks for the ``netkit`` fixture and runs what
'invoke run' runs, in a lab of its own, and gets the typed result:

    def test_my_server(netkit):
        run = netkit.run(server_command="my-server --port {port}",
                         client_command="socat - TCP:{server}:{port}",
                         client_input=["hello"], latency="50ms")
        assert run.verdict == "pass"
        assert not run.packets.resets(from_="server")

When a test that ran labs fails, its report shows each run's verdict, failed checks and
report path. Results go under the test's tmp_path, or under --netkit-out DIR.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kit.impair.options import LINK_OPTIONS

if TYPE_CHECKING:
    from kit.run.result import RunResult

LINK_NAMES = {option.name for option in LINK_OPTIONS}


class Netkit:
    """Runs for one test; each in a fresh lab, removed when it ends."""

    def __init__(self, out: Path):
        self.out = out
        self.runs: list[RunResult] = []

    def run(self, scenario: str | None = None, variant: str | None = None, *,
            server_command: str | None = None, client_command: str | None = None,
            client_input: Iterable[str] = (), mount: str | None = None,
            expect_exit: Iterable[str] = (), expect_packet: Iterable[str] = (),
            server_delay: str = "1", sigpipe: str = "ignore", ss_interval: str = "0.04",
            kernel_trace: bool = True, base_image: str = "debian:bookworm-slim",
            **link: str) -> RunResult:
        """One run, as 'invoke run' takes it (link options by name: latency="50ms",
        loss="1%" ...): a scenario's variant, or your own programs."""
        # Imported here: every pytest session loads the plugin, few use the fixture.
        from kit.cli.commands import execute
        from kit.cli.request import build_request
        from kit.core.errors import KitError
        from kit.impair.spec import parse_link
        from kit.run.result import RunResult
        from kit.scenarios.custom import programs_from_options

        unknown = sorted(set(link) - LINK_NAMES)
        if unknown:
            raise TypeError(f"netkit.run() has no option {', '.join(unknown)}: the link "
                            f"options are {', '.join(sorted(LINK_NAMES))}")
        problem: str | None = None
        try:
            programs = programs_from_options(server_command, client_command, list(client_input),
                                             mount, expect_exit=list(expect_exit),
                                             expect_packet=list(expect_packet))
            request = build_request(scenario, variant=variant, server_delay=server_delay,
                                    sigpipe=sigpipe, ss_interval=ss_interval,
                                    out=str(self.out), base_image=base_image,
                                    kernel_trace=kernel_trace, link=parse_link(**link),
                                    programs=programs, link_options=dict(link))
            if len(request.runs) != 1:
                raise KitError(f"netkit.run() runs one variant of {scenario}: give variant= "
                               f"(one of {', '.join(v for _, v in request.runs)})")
            (outcome,) = execute(request)
        except KitError as error:
            problem = str(error)
        if problem is not None:   # out of the except: one line, no chained traceback
            pytest.fail(f"netkit: {problem}", pytrace=False)
        result = RunResult.load(outcome.directory)
        self.runs.append(result)
        return result


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--netkit-out", metavar="DIR", default=None,
                     help="keep the netkit fixture's run directories here (default: each "
                          "test's tmp_path)")


@pytest.fixture
def netkit(request: pytest.FixtureRequest, tmp_path: Path) -> Netkit:
    """Runs in labs of their own; ``netkit.run(...)`` returns a RunResult."""
    chosen = request.config.getoption("--netkit-out")
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    return Netkit(Path(chosen).resolve() / name if chosen else tmp_path / "netkit")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    kit = getattr(item, "funcargs", {}).get("netkit")
    if report.when == "call" and report.failed and isinstance(kit, Netkit) and kit.runs:
        report.sections.append(("netkit runs", "\n".join(r.describe() for r in kit.runs)))
