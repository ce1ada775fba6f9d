"""The kernel tracer of the SSH testbed: a tracefs instance of the run's own on each
machine (two machines, two kernels; named by role too, for two machines that are one
kernel's containers), read as one text with a '### <role>' line before each machine's
part (kit.run.collect puts each on its machine's clock and keeps its own sockets)."""

from __future__ import annotations

from kit.core.errors import KitError
from kit.core.roles import ROLES, Role
from kit.observe.kernel import (
    INSTANCE_PREFIX,
    TRACEFS,
    TraceUnavailable,
    remove_script,
    start_script,
    stop_script,
)
from kit.observe.tracepoints import KernelTracing, parse_probe
from kit.testbeds.ssh.host import SshHost


class SshKernelTracer:
    def __init__(self, hosts: dict[Role, SshHost], run_id: str, port: int):
        self.hosts = hosts
        self.run_id = run_id
        self.port = port
        self.instance = f"{TRACEFS}/instances/{INSTANCE_PREFIX}{run_id}"
        self.instances = {role: f"{self.instance}-{role}" for role in ROLES}
        self._hosts: dict[Role, SshHost] | None = None
        self._started: set[Role] = set()

    def start(self) -> dict[Role, KernelTracing]:
        """Start tracing on both machines; what each one's kernel traces."""
        self._hosts = self.hosts
        tracing = {}
        for role in ROLES:
            script = start_script(self.instances[role], self.port)
            result = self._hosts[role].run(["sh", "-ec", script], timeout=20, check=False)
            if result.exit_code != 0:
                raise TraceUnavailable(f"tracefs is not usable on the {role}: "
                                       f"{result.last_line() or 'exit ' + str(result.exit_code)}")
            self._started.add(role)
            tracing[role] = parse_probe(result.stdout)
        return tracing

    def stop(self) -> str:
        if self._hosts is None:
            return ""
        parts = []
        for role in ROLES:
            text = self._hosts[role].run(["sh", "-ec", stop_script(self.instances[role])],
                                         timeout=30).stdout
            self._started.discard(role)
            parts.append(f"### {role}\n{text}")
        return "".join(parts)

    def close(self) -> None:
        if self._hosts is None:
            return
        hosts, self._hosts = self._hosts, None
        for role in list(self._started):
            try:
                hosts[role].ensure_connected()
                hosts[role].run(["sh", "-c", remove_script(self.instances[role])], timeout=20)
            except KitError:
                pass   # connection lost for good: 'invoke clean --testbed FILE' removes it
            self._started.discard(role)
