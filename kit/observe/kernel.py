"""The kernel's own TCP tracepoints, recorded through tracefs for one run.

Tracing is global to the kernel, not per network namespace, so the tracer:
- uses a tracefs instance of the run's own (``instances/netkit-<run id>``), so runs in
  parallel never share a buffer, and removes it afterwards, on Ctrl-C too;
- filters on the experiment's port in the kernel and on the lab's addresses here;
- uses the ``mono`` trace clock, the programs' CLOCK_MONOTONIC.

It runs in a short-lived helper container with CAP_SYS_ADMIN (to mount tracefs), so it
also works where the Docker host is a VM (Docker Desktop). Where it cannot, the run
goes on without it and says why.
"""

from __future__ import annotations

import re
import secrets

import docker.errors

from kit.core.errors import KitError
from kit.core.interrupts import deferred_interrupt
from kit.testbeds.docker import labels
from kit.testbeds.docker.engine import client
from kit.testbeds.docker.host import DockerHost

TRACEFS = "/sys/kernel/tracing"
INSTANCE_PREFIX = "netkit-"
# Events with port fields are filtered in the kernel; tcp_send_reset has only socket
# addresses (arrays cannot be filtered), so it is filtered here.
PORT_FILTERED = ("sock/inet_sock_set_state", "tcp/tcp_receive_reset",
                 "tcp/tcp_retransmit_skb", "sock/inet_sk_error_report", "tcp/tcp_destroy_sock")
UNFILTERED = ("tcp/tcp_send_reset",)
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
        host = by_address.get(record.get("saddr"))
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


class KernelTracer:
    """Records the run's TCP tracepoints from a helper container; always cleans up."""

    def __init__(self, run_id: str, image: str, port: int):
        self.run_id = run_id
        self.image = image
        self.port = port
        self.instance = f"{TRACEFS}/instances/{INSTANCE_PREFIX}{run_id}"
        self._helper: DockerHost | None = None
        self._instance_removed = False

    def start(self) -> None:
        """Start tracing, or raise TraceUnavailable with the reason."""
        self._helper = DockerHost(_start_helper(self.image, self.run_id), "tracer")
        port_filter = f"sport == {self.port} || dport == {self.port}"
        script = [
            f"mountpoint -q {TRACEFS} || mount -t tracefs nodev {TRACEFS}",
            f"mkdir {self.instance}",
            f"echo mono > {self.instance}/trace_clock",
            f"echo {BUFFER_KB} > {self.instance}/buffer_size_kb",
            *[f"echo '{port_filter}' > {self.instance}/events/{e}/filter" for e in PORT_FILTERED],
            *[f"echo 1 > {self.instance}/events/{e}/enable" for e in PORT_FILTERED + UNFILTERED],
            f"echo 1 > {self.instance}/tracing_on",
        ]
        result = self._helper.run(["sh", "-ec", "; ".join(script)], timeout=20, check=False)
        if result.exit_code != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()
            self.close()
            raise TraceUnavailable(f"tracefs is not usable: {reason[-1] if reason else 'exit ' + str(result.exit_code)}")

    def stop(self) -> str:
        """Stop tracing, remove the instance, and return what it recorded."""
        if self._helper is None:
            return ""
        # One exec: the trace is read, then the instance goes at once.
        text = self._helper.run(["sh", "-ec", f"echo 0 > {self.instance}/tracing_on; "
                                              f"cat {self.instance}/trace; rmdir {self.instance}"],
                                timeout=30).stdout
        self._instance_removed = True
        return text

    def close(self) -> None:
        """Remove the instance and the helper, whatever state they are in; safe twice."""
        if self._helper is None:
            return
        helper, self._helper = self._helper, None
        with deferred_interrupt():
            try:
                try:
                    if not self._instance_removed:
                        _remove_instance(helper, self.instance)
                except KitError:
                    # The helper is gone (removed by hand?): the instance is the kernel's
                    # and stays unless another helper removes it.
                    try:
                        fresh = DockerHost(_start_helper(self.image, self.run_id), "tracer")
                    except KitError:
                        return   # nothing more to try here; 'invoke clean' removes it
                    try:
                        _remove_instance(fresh, self.instance)
                    except KitError:
                        pass     # likewise
                    finally:
                        _remove_quietly(fresh.container.name)
            finally:
                _remove_quietly(helper.container.name)


def _remove_instance(helper: DockerHost, instance: str) -> None:
    helper.run(["sh", "-c", f"mountpoint -q {TRACEFS} || mount -t tracefs nodev {TRACEFS}; "
                            f"[ ! -d {instance} ] || rmdir {instance}"], timeout=20)


def _start_helper(image: str, run_id: str):
    """A container that may mount tracefs: CAP_SYS_ADMIN first, --privileged as a fallback
    (some hosts refuse the full privileged capability set, others refuse the mount
    without it)."""
    # Not the run's label: the lab's teardown removes by that label, and the tracer must
    # outlive the lab long enough to remove its instance first. 'invoke clean' still
    # finds it by the managed label.
    run_labels = {labels.MANAGED: "true", labels.TRACER_OF: run_id, labels.ROLE: "tracer"}
    attempts = [dict(cap_add=["SYS_ADMIN"], security_opt=["apparmor=unconfined"]),
                dict(privileged=True)]
    reasons = []
    for options in attempts:
        try:
            return client().containers.run(
                image, ["sleep", "infinity"], detach=True, init=True, network_mode="none",
                labels=run_labels, name=f"netkit-{run_id}-tracer-{secrets.token_hex(3)}",
                **options)
        except docker.errors.APIError as error:
            reasons.append((error.explanation or str(error)).splitlines()[0])
            for leftover in client().containers.list(
                    all=True, filters={"label": f"{labels.TRACER_OF}={run_id}"}):
                _remove_quietly(leftover.name)
    raise TraceUnavailable("cannot start a tracing helper container: " + "; ".join(reasons))


def _remove_quietly(name: str) -> None:
    try:
        client().containers.get(name).remove(force=True)
    except docker.errors.APIError:
        pass


def leftover_instances(image: str, remove: bool = False) -> list[str]:
    """The kit's tracefs instances (of runs still going, or killed); ``remove`` them too."""
    helper = DockerHost(_start_helper(image, "instances-" + secrets.token_hex(4)), "tracer")
    action = 'rmdir "$d" && echo "$d"' if remove else 'echo "$d"'
    try:
        result = helper.run(["sh", "-c",
                             f"mountpoint -q {TRACEFS} || mount -t tracefs nodev {TRACEFS}; "
                             f"for d in {TRACEFS}/instances/{INSTANCE_PREFIX}*; do "
                             f"[ -d \"$d\" ] && {action}; done; true"],
                            timeout=30, check=False)
        return result.stdout.split()
    finally:
        helper.container.remove(force=True)
