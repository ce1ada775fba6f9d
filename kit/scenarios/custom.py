"""Your own programs: a client and a server command instead of the kit's, with input
typed into the client, and checks written as data (in an experiment file or on the
command line). The same captures, ss samples, kernel trace and report apply.

Commands may use {port} (the experiment's port) and {server} (the server's address).
Stock tools in the image: socat, nc (OpenBSD), python3; your own programs come from a
directory mounted read-only at /opt/netkit/user in both containers, or from your own
images (--server-image, --client-image), which run unchanged in the host's network
namespace, its observers in the kit's container beside them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from kit.core.errors import BadInput
from kit.core.roles import ROLES
from kit.core.units import image_name
from kit.hosts.base import describe_exit
from kit.scenarios.base import (
    Check,
    Evidence,
    Plan,
    RunParameters,
    Scenario,
    ScriptStep,
)
from kit.scenarios.checks import at

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
    connected {}                    the handshake completed, as both captures saw it
    refused {expect}                the server answered the SYN with an RST (expect:
                                    false, the default, for "never")
    in_time {role}                  the program ended by itself, before the kit stopped it
    first   {from, flag}            the first segment with ``flag`` (of either host) is
                                    ``from``'s: who closes first (FIN), who resets
    serving {role}                  a long-running server (an image's) still ran when the
                                    client was done, and the kit stopped it then
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

    def _connected(self, ev: Evidence) -> Check:
        syn = next(iter(s for s in ev.segments("client", "SYN") if "ACK" not in s["flags"]),
                   None)
        syn_ack = next(iter(s for s in ev.segments("server", "SYN") if "ACK" in s["flags"]),
                       None)
        both = [s for s in (syn, syn_ack) if s is not None and s.get("t_arrived") is not None]
        return Check(self.name, "custom", len(both) == 2,
                     "a connection was established: the client's SYN and the server's "
                     "SYN-ACK each left one host and reached the other",
                     f"SYN {'sent at ' + at(syn) if syn else 'never sent'}"
                     f"{', arrived' if syn and syn.get('t_arrived') is not None else ''}; "
                     f"SYN-ACK {'sent at ' + at(syn_ack) if syn_ack else 'never sent'}"
                     f"{', arrived' if syn_ack and syn_ack.get('t_arrived') is not None else ''}")

    def _refused(self, ev: Evidence) -> Check:
        expect = bool(self.options.get("expect", False))
        accepted = [s["t"] for s in ev.segments("server", "SYN")]
        resets = [s for s in ev.segments("server", "RST")
                  if not accepted or s["t"] < min(accepted)]
        return Check(self.name, "custom", bool(resets) == expect,
                     f"the server {'refuses' if expect else 'does not refuse'} the connection "
                     "(an RST answering the SYN)",
                     f"RST from the server at {at(resets[0])}, before any SYN-ACK" if resets
                     else "no RST from the server before its SYN-ACK")

    def _in_time(self, ev: Evidence) -> Check:
        role = self.options["role"]
        stopped = role in ev.stopped
        status = describe_exit(ev.exit_status.get(role))
        return Check(self.name, "custom", not stopped,
                     f"the {role} ends by itself within its finish_timeout",
                     f"the {role} was stopped by the kit ({status})" if stopped
                     else f"the {role}: {status}")

    def _first(self, ev: Evidence) -> Check:
        sender, flag = self.options["from"], self.options["flag"]
        flagged = sorted((s for role in ROLES for s in ev.segments(role, flag)),
                         key=lambda s: s["t"])
        first = flagged[0] if flagged else None
        return Check(self.name, "custom", first is not None and first["from"] == sender,
                     f"the {sender} sends the first {flag}",
                     f"the first {flag} is the {first['from']}'s, at {at(first)}" if first
                     else f"no {flag} from either host")

    def _serving(self, ev: Evidence) -> Check:
        role = self.options["role"]
        status = describe_exit(ev.exit_status.get(role))
        stopped = role in ev.stopped
        if role in ev.unready:
            observed = f"the {role} {ev.unready[role]}"
        elif stopped:
            observed = f"the {role} ran until the kit stopped it ({status})"
        else:
            observed = (f"the {role} ended by itself ({status}) instead of serving until the "
                        "kit stopped it")
        return Check(self.name, "custom", stopped and role not in ev.unready,
                     f"the {role} serves (listens) until the client is done, then the kit "
                     "stops it", observed)

    def _output(self, ev: Evidence) -> Check:
        role, text = self.options["role"], str(self.options["contains"])
        output = ev.logs.get(role, "")
        return Check(self.name, "custom", text in output, f"the {role} prints {text!r}",
                     f"the {role} printed {len(output.splitlines())} lines"
                     + ("" if text in output else f"; {text!r} is not among them"))


CHECK_KINDS = {"exit": ("role", "status"), "packet": ("from", "flag"), "bytes": ("from", "to"),
               "state": ("role", "reached"), "output": ("role", "contains"),
               "connected": (), "refused": (), "in_time": ("role",), "first": ("from", "flag"),
               "serving": ("role",)}

# What a run of your own programs is judged on when it states no checks: a run in which
# nothing happened must never pass.
DEFAULT_CHECKS = (
    CheckSpec("connected", "connected"),
    CheckSpec("connect-not-refused", "refused", {"expect": False}),
    CheckSpec("client-exits-0", "exit", {"role": "client", "status": 0}),
    CheckSpec("server-exits-0", "exit", {"role": "server", "status": 0}),
    CheckSpec("client-in-time", "in_time", {"role": "client"}),
    CheckSpec("server-in-time", "in_time", {"role": "server"}),
)
# A server from an image serves until it is stopped: it must still be serving when the
# client is done, and its exit on the kit's SIGTERM is not judged.
IMAGE_SERVER_CHECKS = (
    *(check for check in DEFAULT_CHECKS if check.options.get("role") != "server"),
    CheckSpec("server-serves-until-stopped", "serving", {"role": "server"}),
)


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
    if kind in ("packet", "first") and options["flag"] not in FLAGS:
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
    # Your images, run as the hosts' programs (a command left empty: the image's own).
    server_image: str | None = None
    client_image: str | None = None
    port: int | None = None              # the server's own port (None: the kit's)

    def image(self, role: str) -> str | None:
        return self.server_image if role == "server" else self.client_image

    def images(self) -> tuple[str, ...]:
        """Your images, each once."""
        return tuple(dict.fromkeys(image for role in ROLES if (image := self.image(role))))

    @property
    def default_checks(self) -> tuple[CheckSpec, ...]:
        return IMAGE_SERVER_CHECKS if self.server_image else DEFAULT_CHECKS

    def to_json(self) -> dict:
        images = {f"{role}_image": self.image(role) for role in ROLES if self.image(role)}
        return {"server": list(self.server_command), "client": list(self.client_command),
                **images, **({"port": self.port} if self.port else {}),
                "input": [{"at": s.at, "line": s.line} if not s.close_stdin
                          else {"at": s.at, "close_stdin": True} for s in self.script],
                "finish_timeout": self.finish_timeout, "mount": self.mount,
                "checks": [{"name": c.name, c.kind: c.options} for c in self.checks]}

    @classmethod
    def from_json(cls, name: str, data: dict) -> ProgramsSpec:
        """The spec ``to_json`` wrote (run.json's request), validated again."""
        script = tuple(ScriptStep(float(step["at"]), "", close_stdin=True)
                       if step.get("close_stdin") else ScriptStep(float(step["at"]),
                                                                  str(step["line"]))
                       for step in data.get("input", []))
        checks = tuple(check_spec(str(c["name"]), kind, c[kind])
                       for c in data.get("checks", []) for kind in c if kind != "name")
        return cls(name, tuple(data["server"]), tuple(data["client"]), script,
                   float(data.get("finish_timeout", 10.0)), checks, data.get("mount"),
                   data.get("server_image"), data.get("client_image"),
                   int(data["port"]) if data.get("port") else None)


class CustomScenario(Scenario):
    """A scenario made of the user's own commands and checks."""

    claims = ()

    def __init__(self, spec: ProgramsSpec):
        self.spec = spec
        self.name = spec.name
        self.summary = "your own client and server commands"
        self.variants = {"custom": f"server: {described(spec, 'server')}; "
                                   f"client: {described(spec, 'client')}"}

    def plan(self, variant: str, params: RunParameters) -> Plan:
        port = str(params.port)
        return Plan([], [], list(self.spec.script),
                    server_finish_timeout=self.spec.finish_timeout,
                    server_command=[a.replace("{port}", port) for a in self.spec.server_command],
                    client_command=[a.replace("{port}", port) for a in self.spec.client_command],
                    server_image=self.spec.server_image, client_image=self.spec.client_image)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        return [check.judge(evidence) for check in self.spec.checks or self.spec.default_checks]


def described(spec: ProgramsSpec, role: str) -> str:
    """'socat ...', or 'image nginx-local' (with its command, if one is given)."""
    command = " ".join(spec.server_command if role == "server" else spec.client_command)
    image = spec.image(role)
    if image is None:
        return command
    return f"image {image}" + (f" ({command})" if command else "")


TYPING_GAP = 0.5   # seconds between the lines given on the command line


def expected_exit(text: str) -> CheckSpec:
    """--expect-exit ROLE=STATUS, e.g. server=1."""
    role, _, status = text.partition("=")
    if role.strip() not in ROLES or not status.strip().lstrip("-").isdigit():
        raise BadInput(f"--expect-exit takes ROLE=STATUS, like server=1: got {text!r}")
    role, number = role.strip(), int(status)
    return check_spec(f"{role}-exits-{number}", "exit", {"role": role, "status": number})


def expected_packet(text: str) -> CheckSpec:
    """--expect-packet 'ROLE FLAG' (that host sends one) or 'ROLE no FLAG' (it never does)."""
    words = text.split()
    never = len(words) == 3 and words[1] == "no"
    if len(words) != (3 if never else 2) or words[0] not in ROLES or words[-1] not in FLAGS:
        raise BadInput(f"--expect-packet takes 'ROLE FLAG' or 'ROLE no FLAG' (flags: "
                       f"{', '.join(FLAGS)}), like 'client RST': got {text!r}")
    role, flag = words[0], words[-1]
    name = f"{role}-{'never-sends' if never else 'sends'}-{flag.lower()}"
    return check_spec(name, "packet", {"from": role, "flag": flag, "expect": not never})


def programs_from_options(server_command: str | None = None, client_command: str | None = None,
                          inputs: list[str] | None = None, mount: str | None = None,
                          finish_timeout: float = 10.0, expect_exit: list[str] | None = None,
                          expect_packet: list[str] | None = None, server_image: str | None = None,
                          client_image: str | None = None,
                          port: int | None = None) -> ProgramsSpec | None:
    """``invoke run --server-command ... --client-command ...`` (or ``--server-image``,
    ``--client-image``: a side given by an image runs it, with its own command unless one
    is given): each input line typed half a second after the last, then the client's
    input ends. Checks given with --expect-exit and --expect-packet replace the default
    ones (DEFAULT_CHECKS; IMAGE_SERVER_CHECKS for a server from an image)."""
    if not any((server_command, client_command, server_image, client_image)):
        if inputs or mount or expect_exit or expect_packet or port:
            raise BadInput("--client-input, --mount, --port and --expect-... go with your own "
                           "programs (--server-command/--server-image and --client-command/"
                           "--client-image)")
        return None
    for role, command_text, image in (("server", server_command, server_image),
                                      ("client", client_command, client_image)):
        if not command_text and not image:
            raise BadInput(f"give your {role} too: --{role}-command or --{role}-image (your "
                           "own programs replace both of the kit's)")
    script = [ScriptStep(TYPING_GAP * index, line) for index, line in enumerate(inputs or [])]
    script.append(ScriptStep(TYPING_GAP * len(script), "", close_stdin=True))
    checks = (*map(expected_exit, expect_exit or []),
              *map(expected_packet, expect_packet or []))
    return ProgramsSpec("custom", tuple(shlex.split(server_command or "")),
                        tuple(shlex.split(client_command or "")), tuple(script), finish_timeout,
                        checks, mounted_directory(mount),
                        image_name("--server-image", server_image, "nginx:1.27")
                        if server_image else None,
                        image_name("--client-image", client_image, "curlimages/curl")
                        if client_image else None, port)


def mounted_directory(mount: str | None) -> str | None:
    if not mount:
        return None
    path = Path(mount).resolve()
    if not path.is_dir():
        raise BadInput(f"--mount must be a directory: {mount} is not one")
    return str(path)
