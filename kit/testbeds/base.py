"""Where a run's hosts come from: the Testbed seam.

A ``Testbed`` brings up the two hosts of one run and always takes them down; while they
are up, the ``Lab`` it yields answers everything the run needs to know about them. The
run (kit.run) sees only these protocols: a Docker Compose lab today
(kit.testbeds.docker), two machines over SSH or a test double tomorrow.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from kit.core.roles import Role
from kit.hosts import Host
from kit.hosts.base import Endpoint
from kit.impair.apply import NetemProbe
from kit.observe.tracepoints import KernelTracing


@runtime_checkable
class Tracer(Protocol):
    """The kernel's TCP tracepoints for one run (kit.observe.kernel parses the text)."""

    instance: str

    def start(self) -> Mapping[Role, KernelTracing]:
        """Start tracing every event the hosts' kernels have, and say, per host, what its
        kernel traces; or raise TraceUnavailable with the reason."""

    def stop(self) -> str:
        """Stop tracing and return what was recorded."""

    def close(self) -> None:
        """Remove whatever tracing left, in any state; safe twice."""


@runtime_checkable
class Lab(Protocol):
    """The hosts of one run while they are up."""

    @property
    def hosts(self) -> Mapping[Role, Host]: ...

    def endpoint(self, role: Role) -> Endpoint: ...

    def describe(self, role: Role) -> dict:
        """What run.json records of the host (its address, container or machine)."""

    def facts(self) -> dict:
        """Environment facts only known once the lab is up (run.json's environment)."""

    def clock_offsets(self) -> Mapping[Role, float]:
        """Each host's CLOCK_REALTIME minus the controller's, for hosts with clocks of
        their own (machines); empty where the hosts share the controller's clock."""


@runtime_checkable
class Testbed(Protocol):
    """Brings up labs: ``with testbed.up(run_id) as lab: ...``."""

    name: str

    def facts(self) -> dict:
        """Environment facts for run.json: kernel, engine or OS, versions, image."""

    def up(self, run_id: str, keep: bool = False) -> AbstractContextManager[Lab]:
        """The run's lab, removed when the block ends whatever happens (unless ``keep``)."""

    def port_for(self, asked: int) -> int:
        """The port the run's server listens on: ``asked``, or where the lab has held
        earlier runs, one none of them used (their TIME-WAIT sockets stay a minute)."""

    def tracer(self, run_id: str, port: int) -> Tracer:
        """A kernel tracer for the run's kernel (started by the run, alongside up())."""

    def netem_probe(self) -> NetemProbe:
        """Whether the lab's kernel has netem, found by really installing it."""
