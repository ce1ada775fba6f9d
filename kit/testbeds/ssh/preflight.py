"""What each machine must have before a run starts there: root (or passwordless sudo),
the tools the run uses, the experiment interface with its address. What is missing is
one line per machine, with the command that installs it on that machine's distribution.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from kit.hosts import Host
from kit.hosts.base import HostError
from kit.impair.apply import PROBE_SCRIPT, NetemProbe, parse_probe
from kit.testbeds.ssh.config import Machine

# The tools a run calls on a machine, and the package of each (Debian's name; others
# below where they differ).
TOOLS = {"tcpdump": "tcpdump", "ss": "iproute2", "ip": "iproute2", "tc": "iproute2",
         "nstat": "iproute2", "sysctl": "procps", "setsid": "util-linux"}
# Where the run shapes the link: iptables for the userspace engine (kernels without
# netem), unshare for the netem probe (in a network namespace of its own, so that no
# interface of the machine is touched).
SHAPING_TOOLS = {"iptables": "iptables", "unshare": "util-linux"}
OTHER_NAMES = {"fedora": {"iproute2": "iproute", "procps": "procps-ng"},
               "rhel": {"iproute2": "iproute", "procps": "procps-ng"}}
INSTALLERS = {"debian": "apt-get install -y", "ubuntu": "apt-get install -y",
              "fedora": "dnf install -y", "rhel": "dnf install -y", "centos": "dnf install -y",
              "rocky": "dnf install -y", "almalinux": "dnf install -y", "alpine": "apk add",
              "arch": "pacman -S --needed", "opensuse": "zypper install -y",
              "sles": "zypper install -y"}
FAMILY = {"ubuntu": "debian", "centos": "rhel", "rocky": "rhel", "almalinux": "rhel"}


def script(machine: Machine, shapes: bool = False) -> str:
    """Prints 'key value' lines; runs as root where the machine says sudo. ``shapes``:
    the run shapes the link, so also the shaping tools, netem, and which interface
    carries the SSH session."""
    iface, address = shlex.quote(machine.interface), shlex.quote(machine.address)
    tools = " ".join(TOOLS)
    return "; ".join([*(_shaping_script() if shapes else []),
        'echo "kernel $(uname -sr)"',
        '( . /etc/os-release 2>/dev/null && echo "os $ID" ) || echo "os unknown"',
        'echo "uid $(id -u)"',
        f'for t in {tools}; do command -v "$t" >/dev/null 2>&1 || echo "missing $t"; done',
        f'ip -o link show dev {iface} >/dev/null 2>&1 || echo "no-interface"',
        f'ip -o addr show dev {iface} 2>/dev/null | grep -qF " {address}/" || echo "no-address"',
        'echo "control ${SSH_CONNECTION:-} "',
        "true"])


def _shaping_script() -> list[str]:
    tools = " ".join(SHAPING_TOOLS)
    return [
        f'for t in {tools}; do command -v "$t" >/dev/null 2>&1 || echo "missing-shaping $t"; done',
        # The interface holding this session's local address (SSH_CONNECTION's third word).
        'set -- ${SSH_CONNECTION:-}; [ -n "${3:-}" ] && '
        'ip -o addr show to "$3" 2>/dev/null | while read -r _ name _; do '
        'echo "control-interface $name"; done',
        "command -v unshare >/dev/null 2>&1 && unshare --net sh -c " + shlex.quote(PROBE_SCRIPT),
    ]


@dataclass
class MachineFacts:
    kernel: str = ""
    os: str = "unknown"
    uid: int = -1
    missing: list[str] = field(default_factory=list)
    no_interface: bool = False
    no_address: bool = False
    control_address: str | None = None     # the machine's end of the SSH session
    control_interface: str | None = None   # where that address is (asked when shaping)
    missing_for_shaping: list[str] = field(default_factory=list)
    probe_output: str = ""                 # the netem probe's (asked when shaping)

    @classmethod
    def parse(cls, text: str) -> MachineFacts:
        facts = cls()
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            value = value.strip()
            if key == "kernel":
                facts.kernel = value
            elif key == "os":
                facts.os = value or "unknown"
            elif key == "uid" and value.isdigit():
                facts.uid = int(value)
            elif key == "missing":
                facts.missing.append(value)
            elif key == "missing-shaping":
                facts.missing_for_shaping.append(value)
            elif key == "control-interface":
                facts.control_interface = value.rstrip(":").split("@")[0]
            elif key in ("netem:", "seed:"):
                facts.probe_output += line + "\n"
            elif key in ("no-interface", "no-address"):
                setattr(facts, key.replace("-", "_"), True)
            elif key == "control":
                parts = value.split()
                facts.control_address = parts[2] if len(parts) >= 3 else None
        return facts


    def netem_probe(self) -> NetemProbe:
        return parse_probe(self.probe_output)


def install_line(os_id: str, tools: list[str]) -> str:
    family = FAMILY.get(os_id, os_id)
    names = OTHER_NAMES.get(family, {})
    packages = list(dict.fromkeys(names.get(package, package) for package in
                                  ({**TOOLS, **SHAPING_TOOLS}[t] for t in tools)))
    installer = INSTALLERS.get(os_id) or INSTALLERS.get(family)
    if installer is None:
        return f"install the packages that provide {', '.join(tools)}"
    return f"sudo {installer} {' '.join(packages)}"


def problems(machine: Machine, facts: MachineFacts, shapes: bool = False) -> list[str]:
    """What stops a run on ``machine``; empty if nothing does."""
    found = _shaping_problems(machine, facts) if shapes else []
    if facts.uid != 0:
        found.append("the kit needs root there: log in as root or set 'sudo: true' "
                     "(passwordless sudo)")
    if facts.missing:
        found.append(f"missing {', '.join(facts.missing)}: "
                     f"{install_line(facts.os, facts.missing)}")
    if facts.no_interface:
        found.append(f"no interface {machine.interface} (see 'ip link' there)")
    elif facts.no_address:
        found.append(f"{machine.interface} does not have the address {machine.address} "
                     "(see 'ip addr' there)")
    return found


def _shaping_problems(machine: Machine, facts: MachineFacts) -> list[str]:
    found = []
    if facts.control_interface == machine.interface and not machine.shape_control_interface:
        found.append(f"{machine.interface} carries the kit's SSH session "
                     f"({facts.control_address}): shaping it would slow or cut the kit off. "
                     "Give the experiment network's interface, or set "
                     "'shape_control_interface: true' for this machine if you mean it")
    # iptables is the userspace engine's; with netem there, tc alone shapes.
    needed = [tool for tool in facts.missing_for_shaping
              if tool != "iptables" or not facts.netem_probe().available]
    if needed:
        found.append(f"missing {', '.join(needed)} (to shape the link): "
                     f"{install_line(facts.os, needed)}")
    return found


def check(machine: Machine, host: Host, shapes: bool = False) -> tuple[MachineFacts, list[str]]:
    """The machine's facts, and one line of what stops the run there (empty if none)."""
    try:
        result = host.run(["sh", "-c", script(machine, shapes)], timeout=20, check=False)
    except HostError as error:
        return MachineFacts(), [str(error)]
    if result.exit_code != 0:
        said = result.last_line()
        if "sudo" in said and "password" in said:
            return MachineFacts(), ["sudo asks for a password there; the kit needs "
                                    "passwordless sudo (NOPASSWD) or a login as root"]
        return MachineFacts(), [f"the checks could not run there: {said or result.exit_code}"]
    facts = MachineFacts.parse(result.stdout)
    return facts, problems(machine, facts, shapes)
