"""Checks and wording that several scenarios share. Scenarios import this module (and
base), never each other."""

from __future__ import annotations

from kit.core.checks import LAB, Check
from kit.core.parameters import RunParameters
from kit.core.roles import ROLES
from kit.hosts.base import describe_exit
from kit.observe import counters, tracepoints
from kit.scenarios.base import Evidence, Scenario, typing_gap


def at(event: dict | None) -> str:
    return f"+{event['t']:.3f} s" if event and event.get("t") is not None else "(never)"


def read_result(event: dict | None) -> str:
    if event is None:
        return "none"
    if event["ret"] > 0:
        return f"{event['ret']} bytes"
    return "EOF" if event["ret"] == 0 else event.get("errno", "error")


def reads_text(reads: list[dict]) -> list:
    """What each read() gave: its data, EOF, or its errno."""
    return [e.get("data", "EOF" if e["ret"] == 0 else e.get("errno")) for e in reads]


def path_text(path: list[tuple[str, float | None]]) -> str:
    return " -> ".join(f"{state} ({f'+{t:.2f} s' if t is not None else '?'})"
                       for state, t in path) or "no socket seen"


def in_order(path: list[tuple[str, float | None]], wanted: list[str]) -> bool:
    """True if the states in ``wanted`` appear in ``path`` in that order."""
    states = iter(state for state, _ in path)
    return all(any(state == w for state in states) for w in wanted)


def run_checks(scenario: Scenario, variant: str, params: RunParameters,
               evidence: Evidence) -> list[Check]:
    """Every check of a run: that the captures hold every packet (the evidence itself),
    then the scenario's own."""
    on_time = programs_got_the_cpu(evidence, params)
    return [captures_complete(evidence), *([on_time] if on_time else []),
            *scenario.judge(variant, params, evidence)]


def cpu_wait_limit(params: RunParameters) -> float:
    """How long (s) a program may wait for a CPU in all of a run: a quarter of the
    script's gap (the shortest time the scenario's order of events rests on), so that
    even all of it at one moment leaves that order a margin of four; at least 30 ms
    (a lab alone on this project's machine: up to 14 ms)."""
    return max(0.030, typing_gap(params) / 4)


def programs_got_the_cpu(ev: Evidence, params: RunParameters) -> Check | None:
    """Each of the kit's programs waited, runnable, for a CPU at most the limit between
    its first and last event (its rq_us, from /proc/self/schedstat). None for programs
    that do not log it (your own)."""
    waits: dict[str, tuple[int, int]] = {}   # per program: its first and last rq_us
    for role in ROLES:
        for event in ev.events.get(role, []):
            if event.get("rq_us", -1) >= 0:
                first, _ = waits.get(event["prog"], (event["rq_us"], 0))
                waits[event["prog"]] = (first, event["rq_us"])
    if not waits:
        return None
    limit = cpu_wait_limit(params)
    waited = {prog: (last - first) / 1e6 for prog, (first, last) in waits.items()}
    return Check("programs-got-the-cpu", LAB, all(w <= limit for w in waited.values()),
                 f"each program waits at most {limit * 1000:.0f} ms for a CPU in all of the "
                 "run (a busier machine shifts the run's timing)",
                 "; ".join(f"{prog} waited {w * 1000:.1f} ms" for prog, w in waited.items()))


def captures_complete(ev: Evidence) -> Check:
    counts = ev.capture_counts
    complete = bool(counts) and all(
        c.get("captured") == c.get("received") and not c.get("dropped")
        for c in counts.values())
    return Check("captures-complete", LAB, complete and bool(ev.packets),
                 "each host's capture holds every packet its filter received",
                 "; ".join(f"{role}: {c.get('captured')} captured of {c.get('received')}, "
                           f"{c.get('dropped')} dropped" for role, c in counts.items())
                 + f"; {len(ev.packets)} segments matched")


def teardown_path(path: list[str]) -> list[str]:
    """A socket's states from ESTAB on (the handshake before it is not the teardown)."""
    return path[path.index("ESTAB"):] if "ESTAB" in path else path


def kernel_reset_text(ev: Evidence, role: str, reasons: list[dict]) -> str:
    """What the kernel trace says of ``role``'s RSTs: the first one's state and reason,
    or why the trace cannot show it, or that it showed none."""
    if reasons:
        reason = reasons[0].get("reason")
        return (f"kernel: sent in state {reasons[0].get('state')}"
                + (f", reason {reason}" if reason else ""))
    unseen = ev.unseen(role, tracepoints.RESETS)
    return f"kernel: not traced: {unseen}" if unseen else "kernel: no tcp_send_reset traced"


def client_sent_rst(ev: Evidence) -> Check:
    """The client's kernel answered a late reply with an RST: the capture shows it, the
    client's TcpOutRsts counter moved, and, where the kernel can trace such an RST, its
    tcp_send_reset tracepoint fired. Every source there is must agree; one the kernel
    cannot give is said, never held against the run."""
    closed = ev.first("client", "close")
    rsts = ev.segments("client", "RST")
    rst = rsts[0] if rsts else None
    slack = ev.slack("server", "client")    # the server's capture against the client's times
    replies = [s for s in ev.segments("server", with_data=True)
               if closed and s["t"] > closed["t"] - slack
               and (rst is None or s["t"] <= rst["t"] + slack)]
    reply = replies[-1] if replies else None
    reasons = ev.kernel_events("client", "tcp_send_reset")
    moved = ev.counters.get("client", {}).get(counters.RST_SENT, 0)
    traced = bool(reasons) or ev.unseen("client", tracepoints.RESETS) is not None
    passed = rst is not None and reply is not None and moved >= 1 and traced
    observed = (f"RST from client at {at(rst)}" if rst else "no RST from the client")
    observed += f", {kernel_reset_text(ev, 'client', reasons)}, "
    observed += (f"answering the server's {reply['length']}-byte segment "
                 f"\"{reply['payload']}\" at {at(reply)}" if reply
                 else "with no server data after the close()")
    observed += f"; client TcpOutRsts +{moved}"
    if not reasons and traced:
        observed += " (the capture and the counter decided)"
    return Check("client-kernel-sent-rst", "C4 C10", passed,
                 "a reply arriving after the client's close() draws an RST from the "
                 "client's kernel", observed)


def server_next_write(params: RunParameters, ev: Evidence) -> Check:
    writes = ev.calls("server", "write")
    failed = [e for e in writes if e["ret"] < 0]
    signals = [e for e in ev.calls("server", "signal") if e.get("name") == "SIGPIPE"]
    status = ev.exit_status.get("server")
    successes = [e for e in writes if e["ret"] > 0]
    if params.sigpipe == "default":
        # Killed inside send(): no write event after the successful one.
        passed = status == 128 + 13 and len(writes) == len(successes) >= 1
        expected = "the server's next write raises SIGPIPE, which kills it (lesson: C10)"
        observed = f"server: {describe_exit(status)}; writes logged: {len(writes)}"
    else:
        failure = failed[0] if failed else None
        passed = failure is not None and failure.get("errno") == "EPIPE" and status == 1
        if params.sigpipe == "handler":
            passed = passed and bool(signals)
            expected = ("the server's SIGPIPE handler runs, then its write fails with "
                        "EPIPE (C13)")
        else:
            expected = ("with SIGPIPE ignored (the lesson's own code), the next write "
                        "fails with EPIPE; the lesson's text says the server dies of "
                        "SIGPIPE, which only the default disposition does")
        observed = (f"write at {at(failure)} returned {failure['ret']} {failure.get('errno')}"
                    if failure else "no write failed")
        if signals:
            observed += f"; SIGPIPE handler ran at {at(signals[0])}"
        observed += f"; server: {describe_exit(status)}"
    return Check("server-next-write-fails", "C10 C13", passed, expected, observed)
