"""netem for real where the Docker host's kernel lacks it: a small VM.

The image ``netkit/netem-vm`` (containers/netem-vm, built from the lab image) holds
qemu, Debian's stock kernel (sch_netem as a module) and an initramfs with the lab's own
tools. A check boots it under software emulation, joins two network namespaces with a
veth pair, applies the kit's own netem commands (kit.impair.engines, unchanged) on one
side and measures what crosses: handshake round trips, ping loss, TCP throughput.
"""

from __future__ import annotations

import io
import json
import secrets
import shlex
import statistics
import tarfile
from dataclasses import dataclass, field

import docker.errors
import requests.exceptions

from kit.core.errors import EnvironmentProblem, LabFailure
from kit.core.progress import step
from kit.core.roles import ROLES
from kit.impair.apply import PROBE_PORT, command_script
from kit.impair.engines import HANDLE, apply_commands, clear_commands
from kit.impair.spec import Impairment
from kit.testbeds.docker.engine import throwaway_container
from kit.testbeds.docker.image import CONTAINERS_DIR, LabImage, context_hash, ensure_built

VM_CONTEXT = CONTAINERS_DIR / "netem-vm"
VM_REPOSITORY = "netkit/netem-vm"
ADDRESSES = {"client": "10.99.0.1", "server": "10.99.0.2"}
MARK = "=== netkit-vm"


@dataclass(frozen=True)
class Measure:
    """One check in the VM: shape ``senders`` with ``impairment``, then measure."""

    name: str
    impairment: Impairment
    senders: tuple[str, ...] = ("client",)
    kind: str = "rtt"          # rtt | loss | rate | clear
    count: int = 20            # handshakes or pings
    seconds: float = 3.0       # for rate


@dataclass
class VmResult:
    kernel: str = ""
    results: dict[str, dict] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    console: str = ""


def ensure_vm_image(lab: LabImage) -> str:
    """The VM image for this lab image, built when missing (apt inside the build fetches
    qemu and the kernel: a few minutes the first time); only that one is kept."""
    wanted = context_hash(VM_CONTEXT, lab.id)
    return ensure_built(f"{VM_REPOSITORY}:{wanted}", VM_CONTEXT, {"LAB_IMAGE": lab.id},
                        "netem-vm", wanted, "building the netem VM image (qemu and Debian's "
                        "kernel, for netem)", replaces=f"{VM_REPOSITORY}:")


def _in(namespace: str, command: str) -> str:
    return f"ip netns exec {namespace} sh -c {shlex.quote(command)}"


def _report(name: str, command: str) -> str:
    """Run ``command`` and print its output after the result marker (or the error)."""
    return (f"if out=$({command} 2>&1); then echo \"{MARK} result {name} $out\"; "
            f"else echo \"{MARK} error {name} $(echo $out)\"; fi")   # unquoted: one line


def check_script(measures: list[Measure]) -> str:
    """The shell script the VM runs: the two hosts, then each measure in turn."""
    client_addr, server_addr = ADDRESSES["client"], ADDRESSES["server"]
    lines = [
        "ip netns add client && ip netns add server",
        "ip link add eth0 netns client type veth peer name eth0 netns server",
        f"ip -n client addr add {client_addr}/24 dev eth0",
        f"ip -n server addr add {server_addr}/24 dev eth0",
        "for ns in client server; do ip -n $ns link set lo up; ip -n $ns link set eth0 up; done",
        f"ip netns exec server netkit-probe listen {PROBE_PORT} >/tmp/listen.log 2>&1 &",
        "until grep -q listening /tmp/listen.log; do sleep 0.05; done",
        # The round trip of the VM's own veth, under emulation: what every delay adds to.
        _report("baseline", _in("client", f"netkit-probe connect {server_addr} {PROBE_PORT} 21")),
    ]
    for measure in measures:
        for role in ROLES:
            commands = (apply_commands("netem", measure.impairment) if role in measure.senders
                        else clear_commands())
            lines.append(_report(f"{measure.name}:apply:{role}",
                                 _in(role, command_script(commands) + " && echo applied")))
        if measure.kind == "rtt":
            connect = f"netkit-probe connect {server_addr} {PROBE_PORT} {measure.count + 1}"
            lines.append(_report(measure.name, _in("client", connect)))
        elif measure.kind == "loss":
            lines.append(_report(measure.name, _in(
                "client", f"ping -q -c {measure.count} -i 0.01 -W 1 {server_addr} "
                          "| grep -o '[0-9.]*% packet loss' || true")))
        elif measure.kind == "rate":
            lines.append(_report(measure.name, _in(
                "client", f"netkit-probe send {server_addr} {PROBE_PORT} {measure.seconds:g}")))
        elif measure.kind == "clear":
            lines.append(_report(f"{measure.name}:clear", _in("client", command_script(
                clear_commands()) + f" && tc qdisc show dev eth0 | grep -c ' {HANDLE}' || true")))
    return "\n".join(lines) + "\n"


def parse_console(text: str) -> VmResult:
    """The VM's console: the kernel it booted, each measure's output or error."""
    result = VmResult()
    for line in text.splitlines():
        at = line.find(MARK)   # the firmware's terminal codes may precede it
        if at < 0:
            continue
        parts = line[at + len(MARK) + 1:].strip("\r").split(" ", 2)
        if parts[0] == "start" and len(parts) > 1:
            result.kernel = parts[1]
        elif parts[0] in ("result", "error") and len(parts) == 3:
            name, output = parts[1], parts[2].strip()
            if parts[0] == "error":
                result.errors[name] = output
                continue
            try:
                result.results[name] = json.loads(output)
            except json.JSONDecodeError:
                result.results[name] = {"text": output}
    return result


def run_checks(image: str, measures: list[Measure], timeout: float = 600) -> VmResult:
    """Boot the VM once, run every measure, and return what it printed."""
    script = check_script(measures)
    try:
        with step(f"netem in a VM ({len(measures)} checks, software emulation)") as progress, \
                throwaway_container(image, ["/tmp/check.sh"], "netem-vm",
                                    name=f"netkit-netem-vm-{secrets.token_hex(3)}",
                                    network_mode="none") as container:
            container.put_archive("/tmp", _tar("check.sh", script.encode()))
            container.start()
            progress.update("booting and measuring")
            status = container.wait(timeout=timeout)
            console = container.logs(stdout=True, stderr=True).decode(errors="replace")
    except docker.errors.DockerException as error:
        raise EnvironmentProblem(f"the netem VM could not run: {error}") from None
    except requests.exceptions.RequestException as error:   # the wait timed out
        raise LabFailure(f"the netem VM did not finish within {timeout:g} s: {error}") from None
    result = parse_console(console)
    result.console = console
    if not result.kernel:
        tail = " | ".join(console.strip().splitlines()[-5:])
        raise LabFailure(f"the netem VM did not boot (exit {status.get('StatusCode')}): {tail}")
    return result


def _tar(name: str, data: bytes) -> bytes:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()


def median_rtt(result: VmResult, name: str) -> float:
    """The median handshake of a measure, the first (it may wait for ARP) left out."""
    return statistics.median(result.results[name]["connect_ms"][1:])
