"""Where a run's hosts come from: the Testbed seam.

A ``Testbed`` brings up the two hosts of one run and always takes them down; while they
are up, the ``Lab`` it yields answers everything the run needs to know about them. The
run (kit.run) sees only these protocols: a Docker Compose lab (kit.testbeds.docker), two
machines over SSH (kit.testbeds.ssh), or a test double.

A ``Provider`` is one kind of testbed, and what that kind does beside runs: its checks
before anything starts, its images, the ``Labs`` a command's runs take their testbeds
from (a new lab each, labs kept and reset between runs, or the same two machines), and
cleaning up after killed runs. kit.testbeds.factory is the only place that names the
kinds; the layers above see these protocols only.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, runtime_checkable

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


@runtime_checkable
class Labs(Protocol):
    """Where a command's runs take their testbeds from, one run at a time each:
    ``with labs: with labs.lease(user_dir) as testbed: ...``. Leaving the ``with`` block
    removes whatever the labs kept."""

    def __enter__(self) -> Labs: ...

    def __exit__(self, *exc_info) -> None: ...

    def lease(self, user_dir: str | None = None) -> AbstractContextManager[Testbed]:
        """A testbed for one run (``user_dir``: your programs, mounted in both hosts)."""

    def netem_probe(self) -> NetemProbe:
        """Whether these labs' kernel has netem."""


class Lease(Protocol):
    """A lab lent to one run, JSON-able."""

    def to_json(self) -> dict: ...


LeaseT = TypeVar("LeaseT", bound=Lease)


@runtime_checkable
class LabLending(Protocol[LeaseT]):
    """Labs lent to runs in other processes (a study's cells): ``take`` a lab, run in
    it where ``Provider.cell_testbed`` rebuilds its testbed from ``lease.to_json()``,
    ``give_back``."""

    def take(self, user_dir: str | None = None) -> LeaseT: ...

    def give_back(self, lease: LeaseT, user_dir: str | None = None,
                  reusable: bool = True) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Provider(Protocol):
    """One kind of testbed (Kathara's manager, testcontainers' container kind)."""

    name: str

    def check_options(self, keep: bool, mount: str | None, images: bool = False,
                      warm: bool = False) -> None:
        """Refuse (BadInput) what this kind cannot do: keep a lab up, mount programs, run
        your images, keep labs warm between commands."""

    def preflight(self) -> None:
        """Fail at once, before anything is built or written, if what this kind needs
        is missing (an engine, Compose, the machines' file)."""

    def prepare(self, images: tuple[str, ...] = (),
                builds: tuple[tuple[str, str], ...] = ()) -> None:
        """Make its images ready (may take minutes the first time), and your programs'
        ``images``: those of ``builds`` (name, directory) built here, the others pulled if
        missing (BadInput where one cannot be had)."""

    def labs(self, *, trace: bool, shared: bool, keep: bool = False,
             shapes: bool = False, warm: bool = False) -> Labs:
        """Labs for a command's runs: ``shared``, kept and reset between runs; else a new
        lab per run (``keep``: left up after it). ``shapes``: some run shapes the link
        (checked for before any run). ``warm``: taken from, and left to, later commands."""

    def lending(self, trace: bool) -> LabLending[Any] | None:
        """Labs to lend to runs in other processes; None where this kind has none."""

    def to_json(self) -> dict:
        """Enough to make it again in another process (factory.provider_from_json)."""

    def cell_testbed(self, lease: dict | None, user_dir: str | None,
                     shapes: bool = False) -> AbstractContextManager[Testbed]:
        """A testbed in a run's own process: the lab lent as ``lease``, or a new one."""

    def netem_probe(self) -> NetemProbe: ...

    def clean(self, images: bool = False) -> list[str]:
        """Remove what killed runs left (by the kit's marks only); what was removed."""

    def where(self) -> str:
        """Where its labs run, in a phrase (an engine's address, two machines)."""

    @property
    def one_at_a_time(self) -> bool:
        """Whether its labs hold one run at a time (two given machines)."""


@runtime_checkable
class KeptLabs(Protocol):
    """Labs kept up to be explored ('invoke up', 'run --keep'), found by their marks:
    the only labs 'invoke impair', 'shell' and 'down' may pick."""

    def up(self, run_id: str) -> None:
        """Bring a lab up and leave it up."""

    def running(self) -> list[str]:
        """The run ids of the labs kept up."""

    def down(self, run_id: str) -> str:
        """Remove a kept lab; what was done."""

    def attach(self, run_id: str) -> Lab:
        """A kept lab's hosts (to shape its link); leaving it leaves it up."""

    def netem_probe(self, run_id: str) -> NetemProbe: ...

    def name_of(self, run_id: str) -> str:
        """The lab's name as its engine shows it."""

    def shell_command(self, role: Role, run_id: str, terminal: bool) -> list[str]:
        """The command line of an interactive shell on a host of the lab."""
