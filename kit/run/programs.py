"""The run's two programs: the kit's own (graceserver, graceclient, which log events) or
yours (any commands, which log none). Each kind says how its programs start, how the run
knows they are ready, and how they finish; the rest of the run is the same for both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from kit.core.errors import LabFailure
from kit.core.roles import Role
from kit.hosts import CommandTimedOut, Host, Process, describe_exit
from kit.hosts.base import ImageHost
from kit.hosts.waits import ENDED, Wait, WaitTimedOut, command_prints, line_matches
from kit.scenarios import Evidence, Plan, RunParameters

KIT_PROGRAMS = {"server": "graceserver", "client": "graceclient"}
READY_TIMEOUT = 10.0   # for the server to listen and the client to connect, unshaped
EVENTS = "events.jsonl"
LOG = "program.log"


def command(plan: Plan, role: Role, server_address: str | None = None) -> list[str]:
    """The command that starts ``role``'s program (the client's, once the server's
    address is known, with it)."""
    own = plan.server_command if role == "server" else plan.client_command
    if own is not None:
        return [arg.replace("{server}", server_address) if server_address else arg
                for arg in own]
    args = plan.server_args if role == "server" else plan.client_args
    return [KIT_PROGRAMS[role], *args, *([server_address] if server_address else [])]


def waited(wait: Wait, host: Host, process: Process) -> str:
    """What ``wait`` saw of ``process`` on ``host``: its test's name, ENDED, or
    'timed out'."""
    try:
        return wait.on(host, process)
    except WaitTimedOut:
        return "timed out"


def image_of(plan: Plan, role: Role) -> str | None:
    return plan.server_image if role == "server" else plan.client_image


def program_kind(plan: Plan, params: RunParameters) -> Programs:
    if plan.server_image is not None or plan.client_image is not None:
        return ImagePrograms(plan, params)
    return OwnPrograms(plan, params) if plan.server_command is not None \
        else KitPrograms(plan, params)


@dataclass
class Programs:
    plan: Plan
    params: RunParameters
    ending_is_ready = False   # may a program that ended count as ready?
    # Programs that never got ready but are judged anyway (ImagePrograms): what was waited for.
    unready: dict[Role, str] = field(default_factory=dict)

    @property
    def slack(self) -> float:
        """A shaped link slows every exchange: each wait allows a few round trips more."""
        return 4 * self.params.link_rtt

    def argv(self, role: Role, server_address: str, workdir: str) -> list[str]:
        return command(self.plan, role, server_address)

    def ready(self, role: Role, workdir: str) -> Wait:
        raise NotImplementedError

    def start(self, host: Host, role: Role, server_address: str, workdir: str) -> Process:
        """Start ``role``'s program, its output going to its log; return once it is ready
        (listening, or connected), or fail with what it said."""
        process = self.launch(host, role, server_address, workdir)
        wait = self.ready(role, workdir)
        seen = waited(wait, host, process)
        if seen == "done" or (seen == ENDED and self.ending_is_ready):
            return process
        raise self.failure(host, process, wait, workdir)

    def launch(self, host: Host, role: Role, server_address: str, workdir: str) -> Process:
        return host.start(self.argv(role, server_address, workdir), stdin=role == "client",
                          output=f"{workdir}/{LOG}")

    def failure(self, host: Host, process: Process, wait: Wait, workdir: str) -> LabFailure:
        output = host.run(["cat", f"{workdir}/{LOG}"], check=False).stdout.strip()
        return LabFailure(f"the {host.name} did not {wait.what} within {wait.timeout:g} s "
                          f"({describe_exit(process.poll())}); its output: {output or 'none'}")

    def finish(self, hosts: Mapping[Role, Host], processes: Mapping[Role, Process],
               evidence: Evidence, workdir: str) -> None:
        raise NotImplementedError


class KitPrograms(Programs):
    """graceserver and graceclient: they log each call as it returns."""

    def argv(self, role: Role, server_address: str, workdir: str) -> list[str]:
        # The client's server address stays last: it is graceclient's one argument.
        return [*command(self.plan, role), "--events", f"{workdir}/{EVENTS}",
                *([server_address] if role == "client" else [])]

    def ready(self, role: Role, workdir: str) -> Wait:
        event, what = (("listen", f"listen on port {self.params.port}") if role == "server"
                       else ("connect", "connect to the server"))
        path = f"{workdir}/{EVENTS}"
        # A successful call carries its fd and no negative ret; a failed one ("ret":-1)
        # or an exit event ends the wait too. Each pattern needs the line's decisive
        # field: grep may read a line the program is still writing.
        done = f'"event":"{event}".*"(ret":0|fd":[0-9]+,"(local|port))'
        failed = f'"event":"{event}".*"ret":-|"event":"exit"'
        return Wait(what, {"done": line_matches(path, done),
                           "failed": line_matches(path, failed)}, READY_TIMEOUT + self.slack)

    def finish(self, hosts: Mapping[Role, Host], processes: Mapping[Role, Process],
               evidence: Evidence, workdir: str) -> None:
        """The server ends by itself after the script; then the client's input ends."""
        try:
            evidence.exit_status["server"] = processes["server"].wait(
                self.plan.server_finish_timeout + self.slack)
        except CommandTimedOut as error:
            raise LabFailure(f"{error}; see the run's logs/ once collected") from None
        processes["client"].close_stdin()
        evidence.exit_status["client"] = processes["client"].wait(
            self.plan.client_finish_timeout + self.slack)


class OwnPrograms(Programs):
    """Your commands: the run watches their sockets, and stops what outlives its time."""

    ending_is_ready = True   # a quick client may be done already: its exit is evidence

    def ready(self, role: Role, workdir: str) -> Wait:
        port = self.params.port
        query, what = ((f"ss -Hltn 'sport = :{port}'", f"listen on port {port}")
                       if role == "server" else
                       (f"ss -Htan 'dport = :{port}'", "connect to the server"))
        return Wait(what, {"done": command_prints(query)}, READY_TIMEOUT + self.slack,
                    interval=0.01)

    def finish(self, hosts: Mapping[Role, Host], processes: Mapping[Role, Process],
               evidence: Evidence, workdir: str) -> None:
        """``finish_timeout`` s to end by themselves (a server that serves forever never
        does); whatever is left is stopped, and the evidence says so."""
        deadline = time.monotonic() + self.plan.server_finish_timeout + self.slack
        for role in ("server", "client"):
            process = processes[role]
            try:
                evidence.exit_status[role] = process.wait(max(0.0, deadline - time.monotonic()))
            except CommandTimedOut:
                process.close_stdin()
                evidence.exit_status[role] = process.kill()
                evidence.stopped.append(role)


# Connection states that are still closing (or not yet closed): not LISTEN, TIME-WAIT,
# FIN-WAIT-2 (whose peer is in CLOSE-WAIT, which is here).
CLOSING_STATES = ("syn-sent", "syn-recv", "established", "fin-wait-1", "close-wait",
                  "last-ack", "closing")


class ImagePrograms(OwnPrograms):
    """Your images (and, on a side without one, your command in the kit's image). A
    server from an image serves until it is stopped: once the client is done, the kit
    stops it. One whose port never opens is judged, not an error: the client still
    tries, and the checks say what happened."""

    def launch(self, host: Host, role: Role, server_address: str, workdir: str) -> Process:
        image = image_of(self.plan, role)
        if image is None:
            return super().launch(host, role, server_address, workdir)
        if not isinstance(host, ImageHost):
            raise LabFailure(f"the {host.name} cannot run an image (only a Docker lab can)")
        return host.start_image(image, self.argv(role, server_address, workdir),
                                stdin=role == "client", output=f"{workdir}/{LOG}")

    def start(self, host: Host, role: Role, server_address: str, workdir: str) -> Process:
        if role != "server" or image_of(self.plan, role) is None:
            return super().start(host, role, server_address, workdir)
        process = self.launch(host, role, server_address, workdir)
        wait = self.ready(role, workdir)
        seen = waited(wait, host, process)
        if seen == ENDED:
            self.unready[role] = (f"ended ({describe_exit(process.poll())}) before it would "
                                  f"{wait.what}")
        elif seen != "done":
            self.unready[role] = (f"did not {wait.what} within {wait.timeout:g} s "
                                  f"({describe_exit(process.poll())})")
        return process

    def settled(self, timeout: float) -> Wait:
        port = self.params.port
        states = " ".join(f"state {state}" for state in CLOSING_STATES)
        query = f"ss -Htan {states} '( sport = :{port} or dport = :{port} )'"
        return Wait(f"the connections on port {port} to close",
                    {"done": f'[ -z "$({query})" ]'}, timeout, interval=0.01)

    def finish(self, hosts: Mapping[Role, Host], processes: Mapping[Role, Process],
               evidence: Evidence, workdir: str) -> None:
        """The client first, within ``finish_timeout``; then a server from an image is
        stopped if it still serves, as a long-running server is."""
        evidence.unready.update(self.unready)
        if image_of(self.plan, "server") is None:
            return super().finish(hosts, processes, evidence, workdir)
        deadline = time.monotonic() + self.plan.server_finish_timeout + self.slack
        client = processes["client"]
        try:
            evidence.exit_status["client"] = client.wait(self.plan.server_finish_timeout
                                                         + self.slack)
        except CommandTimedOut:
            client.close_stdin()
            evidence.exit_status["client"] = client.kill()
            evidence.stopped.append("client")
        # The client's process is gone, its connection may not be (a lost FIN is sent
        # again): stopping the server now would close the connection in its place.
        for role in ("client", "server"):
            try:
                self.settled(deadline - time.monotonic()).on(hosts[role])
            except WaitTimedOut:
                pass    # a server that never closes its end: stopped as it is
        server = processes["server"]
        if server.poll() is None:
            evidence.stopped.append("server")
        evidence.exit_status["server"] = server.kill()

