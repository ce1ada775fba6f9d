"""The kit's pytest plugin (registered as ``netkit`` under the ``pytest11`` entry point, so
installing the kit is enough). A test asks for the ``netkit`` fixture and runs what
'invoke run' runs, in a lab of its own, and gets the typed result:

    def test_my_server(netkit):
        run = netkit.run(server_command="my-server --port {port}",
                         client_command="socat - TCP:{server}:{port}",
                         client_input=["hello"], latency="50ms")
        assert run.verdict == "pass"
        assert not run.packets.resets(from_="server")

``netkit.run(..., check=True)`` raises RunFailed (an AssertionError carrying the
result) unless the run passed, as subprocess.run(check=True) does for an exit status.

The runs of a pytest session share labs (a pool per session, or per xdist worker), each
reset between runs as a study's are, and all removed when the session ends, also on a
failing test or Ctrl-C; 'invoke clean' removes what a killed pytest left.
--netkit-fresh-labs gives each run a new lab instead.

When a test that ran labs fails, its report shows each run's verdict, failed checks and
report path. Results go under the test's tmp_path, or under --netkit-out DIR.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kit.core.run_options import IN_A_TEST
from kit.impair.options import LINK_OPTIONS

if TYPE_CHECKING:
    from kit.run.result import RunResult
    from kit.testbeds.base import Labs, Provider

LINK_NAMES = {option.name for option in LINK_OPTIONS}
# What netkit.run() takes besides scenario and variant.
TAKEN = ({option.name for option in IN_A_TEST} | LINK_NAMES) - {"scenario", "variant"}


class SessionLabs:
    """The session's shared labs, one set per testbed (a lab image) and tracing choice,
    made on first use and all closed by ``close()``."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, bool], Labs] = {}

    def __call__(self, provider: Provider, trace: bool) -> Labs:
        key = (json.dumps(provider.to_json(), sort_keys=True), trace)
        if key not in self._pools:
            self._pools[key] = provider.labs(trace=trace, shared=True)
        return self._pools[key]

    def close(self) -> None:
        """Close every pool, each even if another's removal failed."""
        pools, self._pools = list(self._pools.values()), {}
        with ExitStack() as closing:
            for pool in pools:
                closing.callback(pool.__exit__, None, None, None)


class Netkit:
    """Runs for one test, in the session's labs (``labs``) or each in a new lab."""

    def __init__(self, out: Path, labs: SessionLabs | None = None):
        self.out = out
        self.labs = labs
        self.runs: list[RunResult] = []

    def run(self, scenario: str | None = None, variant: str | None = None, *,
            check: bool = False, **options: Any) -> RunResult:
        """One run, as 'invoke run' takes it: the run options a test may give
        (kit.core.run_options: server_delay="500ms", server_command=..., client_input=[...]
        ...) and the link options by name (latency="50ms", loss="1%" ...). ``check``:
        raise RunFailed unless it passed."""
        # Imported here: every pytest session loads the plugin, few use the fixture.
        from kit.cli.commands import execute
        from kit.cli.request import build_request
        from kit.core.errors import KitError

        unknown = sorted(set(options) - TAKEN)
        if unknown:
            raise TypeError(f"netkit.run() has no option {', '.join(unknown)}: it takes "
                            f"{', '.join(sorted(TAKEN))}")
        link = {name: value for name, value in options.items() if name in LINK_NAMES}
        asked = {name: value for name, value in options.items() if name not in LINK_NAMES}
        problem: str | None = None
        try:
            request = build_request(scenario, variant=variant, out=str(self.out),
                                    link_options=link, **asked)
            if len(request.runs) != 1:
                raise KitError(f"netkit.run() runs one variant of {scenario}: give variant= "
                               f"(one of {', '.join(v for _, v in request.runs)})")
            (result,) = execute(request, pools=self.labs)
        except KitError as error:
            problem = str(error)
        if problem is not None:   # out of the except: one line, no chained traceback
            pytest.fail(f"netkit: {problem}", pytrace=False)
        self.runs.append(result)
        return result.check_passed() if check else result


def _signature_of_run() -> inspect.Signature:
    """netkit.run()'s keywords, as the tables declare them (for help() and editors)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    signature = inspect.signature(Netkit.run)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    declared = [(option.name, option.default) for option in IN_A_TEST] + \
        [(option.name, option.default) for option in LINK_OPTIONS]
    declared_parameters = [inspect.Parameter(name, keyword, default=default)
                           for name, default in declared if name not in ("scenario", "variant")]
    return signature.replace(parameters=own + declared_parameters)


Netkit.run.__signature__ = _signature_of_run()  # type: ignore[attr-defined]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--netkit-out", metavar="DIR", default=None,
                     help="keep the netkit fixture's run directories here (default: each "
                          "test's tmp_path)")
    parser.addoption("--netkit-fresh-labs", action="store_true", default=False,
                     help="give each run of the netkit fixture a new lab (default: the "
                          "session's runs share labs, reset between runs)")


@pytest.fixture(scope="session")
def netkit_labs() -> Iterator[SessionLabs]:
    """The session's labs; removed when it ends (pytest tears session fixtures down on
    Ctrl-C too)."""
    labs = SessionLabs()
    try:
        yield labs
    finally:
        labs.close()


@pytest.fixture
def netkit(request: pytest.FixtureRequest, tmp_path: Path) -> Netkit:
    """Runs in the session's labs (or, with --netkit-fresh-labs, labs of their own);
    ``netkit.run(...)`` returns a RunResult."""
    chosen = request.config.getoption("--netkit-out")
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    fresh = request.config.getoption("--netkit-fresh-labs")
    labs = None if fresh else request.getfixturevalue("netkit_labs")
    return Netkit(Path(chosen).resolve() / name if chosen else tmp_path / "netkit", labs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    kit = getattr(item, "funcargs", {}).get("netkit")
    if report.when == "call" and report.failed and isinstance(kit, Netkit) and kit.runs:
        report.sections.append(("netkit runs", "\n".join(r.describe() for r in kit.runs)))
