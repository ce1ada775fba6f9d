"""The kernel's own TCP tracepoints, recorded through tracefs for one run.

Tracing is global to the kernel, not per network namespace, so the tracer:
- uses a tracefs instance of the run's own (``instances/netkit-<run id>``), so runs in
  parallel never share a buffer, and removes it afterwards, on Ctrl-C too;
- filters on the experiment's port in the kernel and on the lab's addresses here;
- uses the ``mono`` trace clock, the programs' CLOCK_MONOTONIC.

The scripts here are run by each testbed's tracer as root on the lab's kernel (the
Docker testbed: a short-lived helper container, kit.testbeds.docker.tracer). Where they
cannot run, the run goes on without the trace and says why.
"""

from __future__ import annotations

import re
import shlex

from kit.core.errors import KitError
from kit.observe.tracepoints import EVENTS, RESET_SENT

TRACEFS = "/sys/kernel/tracing"
INSTANCE_PREFIX = "netkit-"
# Events with port fields are filtered in the kernel; tcp_send_reset from 6.10 has only
# socket addresses (arrays cannot be filtered), so it is filtered here.
UNFILTERED = (RESET_SENT,)
PORT_FILTERED = tuple(event for event in EVENTS if event not in UNFILTERED)
BUFFER_KB = 2048

_LINE = re.compile(r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?:\S+\s+)?"
                   r"(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<fields>.*)$")
_FIELD = re.compile(r"(\w+)=(\S*)")


class TraceUnavailable(KitError):
    """The kernel trace cannot be recorded here; the run goes on without it."""


def parse_trace(text: str) -> list[dict]:
    """tracefs `trace` lines into records with ``mono`` (seconds) and the event's fields."""
    records = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        fields = dict(_FIELD.findall(match.group("fields")))
        record = {"mono": float(match.group("ts")), "event": match.group("event"),
                  "task": match.group("task").strip(), "pid": int(match.group("pid"))}
        for key, value in fields.items():
            record[key] = int(value) if value.isdigit() else value
        records.append(record)
    return records


def _split_endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


def _state(name) -> str | None:
    """TCP_FIN_WAIT1 -> FIN-WAIT-1, ss's spelling, so kernel and ss records compare."""
    if not isinstance(name, str) or not name.startswith("TCP_"):
        return None
    spelled = name[4:].replace("_", "-")
    return {"ESTABLISHED": "ESTAB", "FIN-WAIT1": "FIN-WAIT-1", "FIN-WAIT2": "FIN-WAIT-2",
            "SYN-RECV": "SYN-RECV", "NEW-SYN-RECV": "NEW-SYN-RECV"}.get(spelled, spelled)


def for_lab(records: list[dict], addresses: dict[str, str], port: int,
            offset: float) -> list[dict]:
    """The records of this lab's connection, each with ``host`` and ``t``.

    ``addresses`` maps role -> IP; ``offset`` turns CLOCK_MONOTONIC into seconds since
    the run started (t = mono + offset).
    """
    by_address = {address: role for role, address in addresses.items()}
    kept = []
    for record in records:
        if "src" in record:           # tcp_send_reset: the RST's own addresses
            src, sport = _split_endpoint(record.pop("src"))
            dst, dport = _split_endpoint(record.pop("dest", ""))
            record.update(saddr=src, sport=sport, daddr=dst, dport=dport)
        if port not in (record.get("sport"), record.get("dport")):
            continue
        host = by_address.get(str(record.get("saddr")))
        if host is None or record.get("daddr") not in by_address:
            continue
        record["host"] = host
        record["t"] = round(record["mono"] + offset, 6)
        for key in ("oldstate", "newstate", "state"):
            if key in record and _state(record[key]):
                record[key] = _state(record[key])
        for noise in ("saddrv6", "daddrv6", "family", "protocol", "skbaddr", "skaddr"):
            record.pop(noise, None)
        kept.append(record)
    return kept


def transitions(records: list[dict], host: str) -> list[tuple[str, str, float]]:
    """(old, new, t) for every state change of ``host``'s sockets."""
    return [(r["oldstate"], r["newstate"], r["t"]) for r in records
            if r["event"] == "inet_sock_set_state" and r["host"] == host]


def mount_script() -> str:
    """Mount tracefs where it is not. Runs that share a tracing helper may mount at the
    same moment: one mount wins, and the other finds tracefs mounted after all."""
    return (f"mountpoint -q {TRACEFS} || mount -t tracefs nodev {TRACEFS} "
            f"|| mountpoint -q {TRACEFS}")


def start_script(instance: str, port: int) -> str:
    """The shell that mounts tracefs if needed, starts the run's instance with every
    event this kernel has, and says what it found (kit.observe.tracepoints.parse_probe):
    ``### kernel``, each event's ``### format`` (then its format file), ``### missing``
    and ``### unfiltered`` (the kernel refused the port filter: the kit filters)."""
    port_filter = shlex.quote(f"sport == {port} || dport == {port}")
    lines = [mount_script(), f"mkdir {instance}", 'echo "### kernel $(uname -r)"',
             f"echo mono > {instance}/trace_clock",
             f"echo {BUFFER_KB} > {instance}/buffer_size_kb"]
    for event in EVENTS:
        directory = f"{instance}/events/{event}"
        apply_filter = (f"echo {port_filter} > {directory}/filter 2>/dev/null "
                        f"|| echo '### unfiltered {event}'; " if event in PORT_FILTERED else "")
        lines.append(f"if [ -e {directory}/format ]; then echo '### format {event}'; "
                     f"cat {directory}/format; {apply_filter}echo 1 > {directory}/enable; "
                     f"else echo '### missing {event}'; fi")
    lines.append(f"echo 1 > {instance}/tracing_on")
    return "\n".join(lines)


def stop_script(instance: str) -> str:
    """Stop, read, remove: one command, so the instance goes at once."""
    return f"echo 0 > {instance}/tracing_on; cat {instance}/trace; rmdir {instance}"


def remove_script(instance: str) -> str:
    return f"{mount_script()}; [ ! -d {instance} ] || rmdir {instance}"


def leftovers_script(remove: bool) -> str:
    """Lists (and removes) the kit's instances: of runs still going, or killed."""
    action = 'rmdir "$d" && echo "$d"' if remove else 'echo "$d"'
    return (f"{mount_script()}; "
            f"for d in {TRACEFS}/instances/{INSTANCE_PREFIX}*; do "
            f"[ -d \"$d\" ] && {action}; done; true")
