"""Applying an impairment to a lab: the netem probe, the engine choice, the commands run
on each sender, clearing, and measuring what the link really delivers.

Everything happens inside the containers' own network namespaces (they have
NET_ADMIN): removing a container removes its impairment, and no interface of the
Docker host is touched.
"""

from __future__ import annotations

import json
import shlex
import statistics
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from kit.core.errors import BadInput, EnvironmentProblem, LabFailure
from kit.core.roles import Role
from kit.hosts import Host
from kit.impair.engines import (
    DEVICE,
    HANDLE,
    WORKDIR,
    TcFeatures,
    apply_commands,
    check_supported,
    clear_commands,
    delay_line_files,
)
from kit.impair.spec import LinkRequest

PROBE_PORT = 13299   # as the run's port, outside the ephemeral range
NETEM_FIX = ("load it on the Docker host with 'modprobe sch_netem' (Ubuntu: apt install "
             "linux-modules-extra-$(uname -r); WSL2: a kernel built with "
             "CONFIG_NET_SCH_NETEM)")


class ImpairmentFailed(LabFailure):
    """A command that shapes the link failed; the message is the tool's own."""


@dataclass(frozen=True)
class NetemProbe:
    available: bool
    reason: str          # tc's own words where netem could not be installed
    tc: TcFeatures

    def to_json(self) -> dict:
        return {"netem": self.available, "reason": self.reason,
                "tc_netem_seed": self.tc.netem_seed}


PROBE_SCRIPT = f"""
if out=$(tc qdisc add dev lo root handle {HANDLE} netem delay 1ms 2>&1); then
    echo "netem: ok"; tc qdisc del dev lo root handle {HANDLE}
else
    echo "netem: $out"
fi
if tc qdisc add dev lo root netem help 2>&1 | grep -q seed; then echo "seed: yes"; fi
"""


def parse_probe(output: str) -> NetemProbe:
    netem = next((line[len("netem: "):] for line in output.splitlines()
                  if line.startswith("netem: ")), "no answer from the probe")
    return NetemProbe(netem == "ok", "" if netem == "ok" else netem.strip(),
                      TcFeatures(netem_seed="seed: yes" in output))


def choose_engine(link: LinkRequest, probe: NetemProbe | None) -> tuple[str, str]:
    """The engine to use and a line saying why; refuses what it cannot honour."""
    imp = link.impairment
    if link.engine == "userspace":
        check_supported("userspace", imp)
        return "userspace", "asked for (--impair-engine userspace)"
    assert probe is not None
    if probe.available:
        check_supported("netem", imp, probe.tc)
        return "netem", "the kernel has sch_netem"
    missing = f"netem is missing on this kernel ({probe.reason}): {NETEM_FIX}"
    if link.engine == "netem":
        raise EnvironmentProblem(f"--impair-engine netem: {missing}")
    check_supported("userspace", imp,
                    why=f"; {missing}, or drop those options for the userspace engine")
    return "userspace", f"{missing}; using the userspace engine instead"


def command_script(commands: list[str]) -> str:
    """A shell script running ``commands`` in order; the first that fails stops it and
    names itself on stderr, after the tool's own message."""
    return "\n".join(
        f"{command} || {{ echo 'netkit: failed: '{shlex.quote(command)} >&2; exit 1; }}"
        for command in commands)


def run_commands(host: Host, role: str, commands: list[str]) -> None:
    """Run ``commands`` in order on ``host``, raising with the failing tool's message."""
    result = host.run(["sh", "-c", command_script(commands)], timeout=30, check=False)
    if result.exit_code != 0:
        lines = result.stderr.strip().splitlines()
        failed = next((line[len("netkit: failed: "):] for line in lines
                       if line.startswith("netkit: failed: ")), "?")
        said = [line for line in lines if not line.startswith("netkit: failed: ")]
        raise ImpairmentFailed(f"shaping the {role}'s link failed at '{failed}': "
                               f"{' '.join(said) or 'no message'}")


@dataclass(frozen=True)
class Place:
    """Where shaping happens on one host: its experiment interface and its run's
    directory (the delay line's files). A Docker lab host's, unless told otherwise."""

    interface: str = DEVICE
    workdir: str = WORKDIR


def apply_link(hosts: Mapping[Role, Host], link: LinkRequest, engine: str,
               places: Mapping[Role, Place] | None = None) -> dict:
    """Shape each sender's egress on its experiment interface (default eth0), replacing
    whatever the kit had installed on the lab (a host no longer shaped is cleared);
    return what run.json records."""
    applied = {}
    for role, host in hosts.items():
        place = (places or {}).get(role, Place())
        if role in link.senders():
            applied[role] = apply_commands(engine, link.impairment, place.interface,
                                           place.workdir)
            run_commands(host, role, applied[role])
        else:
            run_commands(host, role, clear_commands(place.interface, place.workdir))
    return {"engine": engine, **link.to_json(), "commands": applied}


def clear_link(hosts: Mapping[Role, Host],
               places: Mapping[Role, Place] | None = None) -> dict[str, list[str]]:
    """Remove what the kit installed on every host (and nothing else)."""
    cleared = {}
    for role, host in hosts.items():
        place = (places or {}).get(role, Place())
        cleared[role] = clear_commands(place.interface, place.workdir)
        run_commands(host, role, cleared[role])
    return cleared


def snapshot_delay_lines(hosts: Mapping[Role, Host],
                         workdirs: Mapping[Role, str] | None = None) -> None:
    """Have each host's delay line write what it did so far (packets, delays, how late
    it let them go) into the run's files."""
    for role, host in hosts.items():
        pidfile, stats = map(shlex.quote, delay_line_files((workdirs or {}).get(role, WORKDIR)))
        host.run(["sh", "-c", f"[ -f {pidfile} ] || exit 0; rm -f {stats}; "
                              f"kill -USR1 $(cat {pidfile}) && i=0 && "
                              f"until [ -s {stats} ] || [ $i -ge 100 ]; do "
                              "sleep 0.01; i=$((i+1)); done"], check=False)


def shaping_on(host: Host, interface: str = DEVICE) -> str:
    """What the kit has installed on a host, in tc's and iptables' own words."""
    result = host.run(["sh", "-c", f"tc qdisc show dev {interface} | grep ' {HANDLE}' ; "
                                   "iptables -w -t mangle -S NETKIT 2>/dev/null | tail -n +2"],
                      check=False)
    return result.stdout.strip()


@contextmanager
def probe_listener(server: Host, workdir: str = WORKDIR):
    """A netkit-probe listener on the server's PROBE_PORT for the block: it accepts
    connections and reads each to its end (handshakes, goodput). Its output and PID live
    in the run's directory (where a machine's cleanup finds the PID) until it stops."""
    log, pid_file = (shlex.quote(f"{workdir}/probe.{kind}") for kind in ("log", "pid"))
    server.run(["sh", "-c",
                f"setsid netkit-probe listen {PROBE_PORT} >{log} 2>&1 & pid=$!; "
                f"echo $pid >{pid_file}; until grep -q listening {log}; do "
                "kill -0 $pid || exit 1; sleep 0.01; done"], timeout=10)
    try:
        yield
    finally:
        # Stopped means gone: its exit resets what it had not accepted yet, which must
        # not land in the counters of the run that follows.
        server.run(["sh", "-c", f"pid=$(cat {pid_file}); kill $pid 2>/dev/null; "
                                "while kill -0 $pid 2>/dev/null; do sleep 0.005; done; "
                                f"rm -f {log} {pid_file}"], check=False, timeout=10)


def measure_rtt(server: Host, client_host: Host, server_address: str,
                count: int = 5, workdir: str = WORKDIR) -> list[float]:
    """Round-trip times in ms: TCP handshakes from the client to a listener on the server.

    One extra handshake goes first and is dropped: it may wait for ARP (which netem
    delays too)."""
    if count < 1:
        raise BadInput("the probe needs at least one handshake")
    with probe_listener(server, workdir):
        output = client_host.run(["netkit-probe", "connect", server_address, str(PROBE_PORT),
                                  str(count + 1)], timeout=60).stdout
    return json.loads(output)["connect_ms"][1:]


def rtt_summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"samples_ms": samples, "median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(p95, 3), "min_ms": ordered[0], "max_ms": ordered[-1]}
