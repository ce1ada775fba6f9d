"""Your own programs: a client and a server command instead of the kit's, with input
typed into the client, and checks written as data (in an experiment file or on the
command line). The same captures, ss samples, kernel trace and report apply.

Commands may use {port} (the experiment's port) and {server} (the server's address).
Stock tools in the image: socat, nc (OpenBSD), python3; your own programs come from a
directory mounted read-only at /opt/netkit/user in both containers.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from kit.core.errors import BadInput
from kit.core.roles import ROLES
from kit.hosts.base import describe_exit
from kit.scenarios.base import (
    Check,
    Evidence,
    Plan,
    RunParameters,
    Scenario,
    ScriptStep,
)
from kit.scenarios.checks import at, captures_complete

USER_DIR = "/opt/netkit/user"
FLAGS = ("SYN", "FIN", "RST", "PSH", "ACK")


@dataclass(frozen=True)
class CheckSpec:
    """One check of a custom run, as data. Kinds:

    exit    {role, status}          the program's exit status
    packet  {from, flag, expect}    a segment from ``from`` with ``flag`` (expect: true,
                                    the default, or false for "never")
    bytes   {from, to}              every payload byte sent from ``from`` arrived
    state   {role, reached}         the connection reached a TCP state (ss or kernel)
    output  {role, contains}        the program printed a text
    """

    name: str
    kind: str
    options: dict = field(default_factory=dict)

    def judge(self, ev: Evidence) -> Check:
        return getattr(self, f"_{self.kind}")(ev)

    def _exit(self, ev: Evidence) -> Check:
        role, status = self.options["role"], int(self.options["status"])
        seen = ev.exit_status.get(role)
        return Check(self.name, "custom", seen == status, f"the {role} exits {status}",
                     f"the {role}: {describe_exit(seen)}")

    def _packet(self, ev: Evidence) -> Check:
        sender, flag = self.options["from"], self.options["flag"]
        expect = bool(self.options.get("expect", True))
        found = ev.segments(sender, flag)
        return Check(self.name, "custom", bool(found) == expect,
                     f"the {sender} {'sends' if expect else 'never sends'} a {flag}",
                     f"{len(found)} {flag} segment(s) from the {sender}"
                     + (f", the first at {at(found[0])}" if found else ""))

    def _bytes(self, ev: Evidence) -> Check:
        sender, receiver = self.options["from"], self.options["to"]
        data = [s for s in ev.segments(sender, with_data=True) if s["to"] == receiver]
        sent = {(s["seq"], s["length"]) for s in data}
        arrived = {(s["seq"], s["length"]) for s in data if s.get("t_arrived") is not None}
        total = sum(length for _, length in sent)
        lost = sum(length for _, length in sent - arrived)
        return Check(self.name, "custom", bool(sent) and not lost,
                     f"every byte the {sender} sent reached the {receiver}",
                     f"{total} bytes in {len(sent)} segments sent, {lost} bytes never "
                     f"seen arriving")

    def _state(self, ev: Evidence) -> Check:
        role, state = self.options["role"], self.options["reached"]
        sampled = [s for s, _ in ev.states(role)]
        traced = ev.transitions(role)
        return Check(self.name, "custom", state in sampled or state in traced,
                     f"the {role}'s connection reaches {state}",
                     f"ss: {' -> '.join(sampled) or 'nothing'}; kernel: "
                     f"{' -> '.join(traced) or 'no trace'}")

    def _output(self, ev: Evidence) -> Check:
        role, text = self.options["role"], str(self.options["contains"])
        output = ev.logs.get(role, "")
        return Check(self.name, "custom", text in output, f"the {role} prints {text!r}",
                     f"the {role} printed {len(output.splitlines())} lines"
                     + ("" if text in output else f"; {text!r} is not among them"))


CHECK_KINDS = {"exit": ("role", "status"), "packet": ("from", "flag"), "bytes": ("from", "to"),
               "state": ("role", "reached"), "output": ("role", "contains")}


def check_spec(name: str, kind: str, options: dict) -> CheckSpec:
    """Validate one check; the error says which option is wrong and what is allowed."""
    if kind not in CHECK_KINDS:
        raise BadInput(f"unknown check kind {kind!r}: choose one of {', '.join(CHECK_KINDS)}")
    missing = [key for key in CHECK_KINDS[kind] if key not in options]
    if missing:
        raise BadInput(f"a {kind} check needs {', '.join(CHECK_KINDS[kind])}: "
                       f"{', '.join(missing)} missing")
    for key in ("role", "from", "to"):
        if key in options and options[key] not in ROLES:
            raise BadInput(f"{key} must be client or server: got {options[key]!r}")
    if kind == "packet" and options["flag"] not in FLAGS:
        raise BadInput(f"flag must be one of {', '.join(FLAGS)}: got {options['flag']!r}")
    if kind == "exit" and not isinstance(options["status"], int):
        raise BadInput(f"status must be a whole number: got {options['status']!r}")
    return CheckSpec(name, kind, dict(options))


@dataclass(frozen=True)
class ProgramsSpec:
    """What a custom run starts and feeds."""

    name: str
    server_command: tuple[str, ...]
    client_command: tuple[str, ...]
    script: tuple[ScriptStep, ...] = ()
    finish_timeout: float = 10.0        # after the script, before the kit stops them
    checks: tuple[CheckSpec, ...] = ()
    mount: str | None = None            # a host directory, mounted at USER_DIR

    def to_json(self) -> dict:
        return {"server": list(self.server_command), "client": list(self.client_command),
                "input": [{"at": s.at, "line": s.line} if not s.close_stdin
                          else {"at": s.at, "close_stdin": True} for s in self.script],
                "finish_timeout": self.finish_timeout, "mount": self.mount,
                "checks": [{"name": c.name, c.kind: c.options} for c in self.checks]}


class CustomScenario(Scenario):
    """A scenario made of the user's own commands and checks."""

    claims = ()

    def __init__(self, spec: ProgramsSpec):
        self.spec = spec
        self.name = spec.name
        self.summary = "your own client and server commands"
        self.variants = {"custom": f"server: {' '.join(spec.server_command)}; client: "
                                   f"{' '.join(spec.client_command)}"}

    def plan(self, variant: str, params: RunParameters) -> Plan:
        port = str(params.port)
        return Plan([], [], list(self.spec.script),
                    server_finish_timeout=self.spec.finish_timeout,
                    server_command=[a.replace("{port}", port) for a in self.spec.server_command],
                    client_command=[a.replace("{port}", port) for a in self.spec.client_command])

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        return [captures_complete(evidence),
                *(check.judge(evidence) for check in self.spec.checks)]


TYPING_GAP = 0.5   # seconds between the lines given on the command line


def programs_from_options(server_command: str | None = None, client_command: str | None = None,
                          inputs: list[str] | None = None, mount: str | None = None,
                          finish_timeout: float = 10.0) -> ProgramsSpec | None:
    """``invoke run --server-command ... --client-command ...``: each input line typed
    half a second after the last, then the client's input ends."""
    if server_command is None and client_command is None:
        if inputs or mount:
            raise BadInput("--client-input and --mount go with --server-command and "
                           "--client-command")
        return None
    if not server_command or not client_command:
        raise BadInput("give both --server-command and --client-command (your own programs "
                       "replace both of the kit's)")
    script = [ScriptStep(TYPING_GAP * index, line) for index, line in enumerate(inputs or [])]
    script.append(ScriptStep(TYPING_GAP * len(script), "", close_stdin=True))
    mounted = None
    if mount:
        path = Path(mount).resolve()
        if not path.is_dir():
            raise BadInput(f"--mount must be a directory: {mount} is not one")
        mounted = str(path)
    return ProgramsSpec("custom", tuple(shlex.split(server_command)),
                        tuple(shlex.split(client_command)), tuple(script), finish_timeout,
                        mount=mounted)
