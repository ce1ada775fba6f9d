"""What a scenario is: variants, each program's plan, and the checks on the evidence.

Adding a scenario means adding one module that defines a ``Scenario`` and registering
it in kit.scenarios; the runner never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kit.core.checks import Check
from kit.core.parameters import RunParameters
from kit.observe.ss import SocketRecord, state_path
from kit.observe.tracepoints import KernelTracing

# A segment a call sends leaves inside the call; the program logs the call as it returns.
WITHIN_CALL = 0.05


def server_args(params: RunParameters, *extra: str) -> list[str]:
    """graceserver's options for these parameters, then ``extra``."""
    return ["--port", str(params.port), "--server-delay", f"{params.server_delay:g}",
            "--sigpipe", params.sigpipe, *extra]


def client_args(params: RunParameters, *extra: str) -> list[str]:
    """graceclient's options (the runner adds the server's address), then ``extra``.

    After close() the client lingers until its input ends, at most until both replies
    could have come and gone.
    """
    return ["--port", str(params.port), "--after-close", f"{2 * params.server_delay + 10:g}",
            *extra]


@dataclass(frozen=True)
class ScriptStep:
    at: float   # seconds after the client started
    line: str   # what is typed on the client's standard input
    close_stdin: bool = False   # instead of typing: end the client's input (EOF)


@dataclass(frozen=True)
class Plan:
    """How the programs are started and what the client is fed."""

    server_args: list[str]
    client_args: list[str]    # the runner adds the server's address as the last one
    script: list[ScriptStep]
    # After the script, how long the server may take to finish on its own.
    server_finish_timeout: float
    # After the server finished, how long the client may take once its input is closed.
    client_finish_timeout: float = 10.0
    # Your own programs instead of the kit's (kit.scenarios.custom): whole commands, the
    # client's with "{server}" for the server's address. They log no events, so the
    # runner waits on their sockets instead, and stops them once the time is up.
    server_command: list[str] | None = None
    client_command: list[str] | None = None
    # Your images: that host's program is a container of the image in the host's network
    # namespace (its command, if empty, the image's own).
    server_image: str | None = None
    client_image: str | None = None
    # A link the scenario needs (link options as text, kit.impair.options): the run
    # shapes it in place of any link asked for on the command line.
    link: dict[str, str] | None = None


MESSAGES = ("data1", "data2")   # what the lesson's client types


def typing_gap(params: RunParameters) -> float:
    """How long the scripted client waits between its lines: well inside the server's
    processing time, so that everything typed is in before the first reply."""
    return min(params.server_delay / 4, 0.5)


def exchange_plan(params: RunParameters, ending: str) -> Plan:
    """The lesson's exchange: data1, data2, then ``ending`` (close, shutdown ...) typed
    before the first reply (sent server_delay after data1 arrives), as the lesson's user
    typed faster than the server answered."""
    gap = typing_gap(params)
    script = [ScriptStep(0.0, MESSAGES[0]), ScriptStep(gap, MESSAGES[1]),
              ScriptStep(2 * gap, ending)]
    return Plan(server_args(params), client_args(params), script,
                server_finish_timeout=len(MESSAGES) * params.server_delay + 10)


@dataclass
class Evidence:
    """Everything observed in one run, on one clock (``t``: seconds since the run began)."""

    events: dict[str, list[dict]]
    samples: dict[str, list[SocketRecord]]
    counters: dict[str, dict[str, int]]      # per host: what moved during the run
    exit_status: dict[str, int | None]
    logs: dict[str, str] = field(default_factory=dict)
    packets: list[dict] = field(default_factory=list)   # segments, both captures merged
    kernel: list[dict] | None = None                    # None: no kernel trace this run
    # Per host, what its kernel can trace (empty: not asked, as before kernels differed);
    # and, where there is no trace at all, why.
    tracing: dict[str, KernelTracing] = field(default_factory=dict)
    untraced: str = "no kernel trace"
    capture_counts: dict[str, dict] = field(default_factory=dict)   # tcpdump's own counts
    observers_cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # per host
    unplayed: list[str] = field(default_factory=list)   # script lines the client ended before
    # Per host, the longest a shaped link holds a packet it sends: its capture (which
    # sees packets as they leave) then shows a call's segment that much later.
    egress: dict[str, float] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)   # programs the kit had to stop
    # Programs that never got ready (an image's server whose port never opened): what
    # was waited for, for the checks to say.
    unready: dict[str, str] = field(default_factory=dict)
    sysctls: dict[str, dict[str, str]] = field(default_factory=dict)   # per host, as read
    # Per host, how far its times may be off the controller's clock (two machines: the
    # clock offset's uncertainty, run.json's environment.clocks; one machine: none).
    clock_slack: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def slack_of(environment: dict) -> dict[str, float]:
        """Each host's clock uncertainty, as run.json's environment records it."""
        return {role: clock["uncertainty_s"]
                for role, clock in (environment.get("clocks") or {}).items()}

    def slack(self, role: str, other: str) -> float:
        """How far apart a time of ``role`` and one of ``other`` may be off each other:
        a check that orders times of two machines allows that much (none on one machine)."""
        if role == other:
            return 0.0
        return self.clock_slack.get(role, 0.0) + self.clock_slack.get(other, 0.0)

    def sent_within_call(self, role: str, segment: dict, call: dict,
                         window: float = WITHIN_CALL) -> bool:
        """True if ``segment`` (from ``role``'s capture) left within the ``call``."""
        lag = segment["t"] - call["t"]
        return -window < lag < window + self.egress.get(role, 0.0)

    def calls(self, role: str, name: str, prog: str | None = None) -> list[dict]:
        """``role``'s events named ``name`` (of one process, ``prog``, if given: a forked
        child writes to its parent's stream as ``client-child``)."""
        return [e for e in self.events.get(role, []) if e["event"] == name
                and (prog is None or e.get("prog") == prog)]

    def first(self, role: str, name: str) -> dict | None:
        found = self.calls(role, name)
        return found[0] if found else None

    def states(self, role: str) -> list[tuple[str, float | None]]:
        return state_path(self.samples.get(role, []))

    def segments(self, sender: str, flag: str | None = None, after: float | None = None,
                 with_data: bool | None = None) -> list[dict]:
        """Segments ``sender`` sent, optionally with ``flag``, after a time, with data."""
        return [s for s in self.packets
                if s["from"] == sender and (flag is None or flag in s["flags"])
                and (after is None or s["t"] > after)
                and (with_data is None or bool(s["length"]) == with_data)]

    def unseen(self, role: str, feature: str) -> str | None:
        """Why the kernel trace cannot show ``feature`` (a tracepoints feature or event)
        on ``role``'s host; None where it can, so that its silence is evidence."""
        if self.kernel is None:
            return self.untraced
        tracing = self.tracing.get(role)
        return tracing.limits().get(feature) if tracing else None

    def kernel_events(self, role: str, name: str) -> list[dict]:
        return [r for r in self.kernel or [] if r["host"] == role and r["event"] == name]

    def transitions(self, role: str) -> list[str]:
        """The states ``role``'s connection went through, from the kernel's tracepoint."""
        path: list[str] = []
        for record in self.kernel_events(role, "inet_sock_set_state"):
            if not path:
                path.append(record["oldstate"])
            path.append(record["newstate"])
        return path


def why_untraced(kernel_trace: dict | None) -> str:
    """Why a run has no kernel trace, from run.json's kernel_trace."""
    return f"no kernel trace ({(kernel_trace or {}).get('reason', 'not recorded')})"


def tracing_of(kernel_trace: dict | None) -> dict[str, KernelTracing]:
    """What each host's kernel traced, from run.json's kernel_trace (empty before the
    kit asked its kernels)."""
    hosts = (kernel_trace or {}).get("hosts") or {}
    found = {role: KernelTracing.from_json(data) for role, data in hosts.items()}
    return {role: tracing for role, tracing in found.items() if tracing is not None}


# A forked child writes to its parent's event stream under this program name.
CHILD = "client-child"


class Scenario:
    name: str = ""
    summary: str = ""
    claims: tuple[str, ...] = ()
    variants: dict[str, str] = {}   # name -> one-line description

    def plan(self, variant: str, params: RunParameters) -> Plan:
        raise NotImplementedError

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        raise NotImplementedError
