"""A pool's tracing helper serves every run's tracer through one host (one agent) per
process, and removing the helper ends that agent too."""

from __future__ import annotations

import docker.errors
import pytest

from kit.observe.kernel import TraceUnavailable
from kit.testbeds.docker import tracer as tracers


class StandInHost:
    made: list[StandInHost] = []

    def __init__(self, container, name, use_agent=True):
        self.container, self.closed = container, False
        StandInHost.made.append(self)

    def close(self):
        self.closed = True


class Containers:
    def __init__(self, names):
        self.names = names

    def get(self, name):
        if name not in self.names:
            raise docker.errors.NotFound("No such container: " + name)
        return type("Container", (), {"name": name})()


@pytest.fixture
def engine(monkeypatch):
    StandInHost.made = []
    removed: list[str] = []
    containers = Containers({"netkit-pool-1-tracer-a"})
    monkeypatch.setattr(tracers, "DockerHost", StandInHost)
    monkeypatch.setattr(tracers, "client", lambda: type("Client", (), {"containers": containers}))
    monkeypatch.setattr(tracers, "remove_quietly", removed.append)
    monkeypatch.setattr(tracers, "_shared_hosts", {})
    return removed


def test_every_run_uses_the_one_host_of_the_shared_helper(engine):
    first = tracers.shared_helper_host("netkit-pool-1-tracer-a")
    assert tracers.shared_helper_host("netkit-pool-1-tracer-a") is first
    assert len(StandInHost.made) == 1


def test_removing_the_helper_ends_its_agent_and_the_next_run_says_it_is_gone(engine):
    host = tracers.shared_helper_host("netkit-pool-1-tracer-a")
    tracers.remove_shared_helper("netkit-pool-1-tracer-a")
    assert host.closed and engine == ["netkit-pool-1-tracer-a"]
    with pytest.raises(TraceUnavailable, match="shared tracing helper netkit-pool-9 is gone"):
        tracers.shared_helper_host("netkit-pool-9")
