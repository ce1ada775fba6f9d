"""The kernel tracer of a Docker testbed: tracefs driven from a short-lived helper
container with CAP_SYS_ADMIN (to mount tracefs), so it also works where the Docker host
is a VM (Docker Desktop)."""

from __future__ import annotations

import secrets
import threading

import docker.errors

from kit.core.errors import KitError
from kit.core.interrupts import deferred_interrupt
from kit.core.roles import ROLES, Role
from kit.observe.kernel import (
    INSTANCE_PREFIX,
    TRACEFS,
    TraceUnavailable,
    leftovers_script,
    remove_script,
    start_script,
    stop_script,
)
from kit.observe.tracepoints import KernelTracing, parse_probe
from kit.testbeds.docker import labels
from kit.testbeds.docker.engine import client
from kit.testbeds.docker.host import DockerHost


class DockerKernelTracer:
    """Records the run's TCP tracepoints from a helper container; always cleans up.

    ``helper``: the name of a helper shared by several runs (a lab pool's), used and
    left running; else the tracer starts a helper of its own and removes it."""

    def __init__(self, run_id: str, image: str, port: int, helper: str | None = None):
        self.run_id = run_id
        self.image = image
        self.port = port
        self.instance = f"{TRACEFS}/instances/{INSTANCE_PREFIX}{run_id}"
        self._shared = helper
        self._helper: DockerHost | None = None
        self._instance_removed = False

    def start(self) -> dict[Role, KernelTracing]:
        """Start tracing; what the engine's kernel (both hosts') traces. Else raise
        TraceUnavailable with the reason."""
        self._helper = shared_helper_host(self._shared) if self._shared \
            else DockerHost(start_helper(self.image, self.run_id), "tracer")
        result = self._helper.run(["sh", "-ec", start_script(self.instance, self.port)],
                                  timeout=20, check=False)
        if result.exit_code != 0:
            self.close()
            raise TraceUnavailable("tracefs is not usable: "
                                   f"{result.last_line() or 'exit ' + str(result.exit_code)}")
        tracing = parse_probe(result.stdout)
        return dict.fromkeys(ROLES, tracing)

    def stop(self) -> str:
        """Stop tracing, remove the instance, and return what it recorded."""
        if self._helper is None:
            return ""
        text = self._helper.run(["sh", "-ec", stop_script(self.instance)], timeout=30).stdout
        self._instance_removed = True
        return text

    def close(self) -> None:
        """Remove the instance and the helper, whatever state they are in; safe twice."""
        if self._helper is None:
            return
        helper, self._helper = self._helper, None
        with deferred_interrupt():
            try:
                if not self._instance_removed:
                    self._remove_instance(helper)
            finally:
                if self._shared is None:
                    remove_quietly(helper.container.name)

    def _remove_instance(self, helper: DockerHost) -> None:
        try:
            helper.run(["sh", "-c", remove_script(self.instance)], timeout=20)
        except KitError:
            # The helper is gone (removed by hand?): the instance is the kernel's and
            # stays unless another helper removes it; else 'invoke clean' does.
            try:
                fresh = DockerHost(start_helper(self.image, self.run_id), "tracer")
            except KitError:
                return
            try:
                fresh.run(["sh", "-c", remove_script(self.instance)], timeout=20)
            except KitError:
                pass
            finally:
                remove_quietly(fresh.container.name)


_shared_hosts: dict[str, DockerHost] = {}
_shared_hosts_lock = threading.Lock()


def shared_helper_host(name: str) -> DockerHost:
    """A shared helper's host, one per process: its agent serves each run's tracer (an
    agent started per run costs an exec, about 70 ms)."""
    with _shared_hosts_lock:
        host = _shared_hosts.get(name)
        if host is None:
            try:
                container = client().containers.get(name)
            except docker.errors.APIError as error:
                raise TraceUnavailable(f"the shared tracing helper {name} is gone: "
                                       f"{error.explanation or error}") from None
            host = _shared_hosts[name] = DockerHost(container, "tracer")
        return host


def remove_shared_helper(name: str) -> None:
    """Remove a shared helper, and its host's agent, once no run uses it."""
    with _shared_hosts_lock:
        host = _shared_hosts.pop(name, None)
    if host is not None:
        host.close()
    remove_quietly(name)


def start_helper(image: str, run_id: str):
    """A container that may mount tracefs: CAP_SYS_ADMIN first, --privileged as a fallback
    (some hosts refuse the full privileged capability set, others refuse the mount
    without it)."""
    # Not the run's label: the lab's teardown removes by that label, and the tracer must
    # outlive the lab long enough to remove its instance first. 'invoke clean' still
    # finds it by the managed label.
    run_labels = {labels.MANAGED: "true", labels.TRACER_OF: run_id, labels.ROLE: "tracer"}
    attempts: list[dict] = [dict(cap_add=["SYS_ADMIN"], security_opt=["apparmor=unconfined"]),
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
                    all=True, filters={"label": f"{labels.TRACER_OF}={run_id}"},
                    ignore_removed=True):
                remove_quietly(leftover.name)
    raise TraceUnavailable("cannot start a tracing helper container: " + "; ".join(reasons))


def remove_quietly(name: str) -> None:
    try:
        client().containers.get(name).remove(force=True)
    except docker.errors.APIError:
        pass


def leftover_instances(image: str, remove: bool = False) -> list[str]:
    """The kit's tracefs instances (of runs still going, or killed); ``remove`` them too."""
    helper = DockerHost(start_helper(image, "instances-" + secrets.token_hex(4)), "tracer")
    try:
        return helper.run(["sh", "-c", leftovers_script(remove)], timeout=30,
                          check=False).stdout.split()
    finally:
        remove_quietly(helper.container.name)
