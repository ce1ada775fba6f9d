"""The run's kernel tracer: started in the background while the lab comes up, read
while the hosts' files are copied, removed exactly once whatever happens."""

from __future__ import annotations

import threading
import time

from kit.core.errors import KitError
from kit.core.progress import say
from kit.core.roles import Role
from kit.observe.tracepoints import KernelTracing
from kit.run.timings import Timings
from kit.testbeds.base import Testbed, Tracer


class TracerSlot:
    """start() and close() exclude each other: a close() that comes first (Ctrl-C before
    the background start even began) cancels the start; one that comes during it waits.

    ``status`` is what run.json's kernel_trace says (with what each host's kernel
    traces, and what it cannot); the run copies it into the record on its own thread.
    """

    def __init__(self, testbed: Testbed, run_id: str, port: int, enabled: bool,
                 timings: Timings):
        self._testbed = testbed
        self._run_id = run_id
        self._port = port
        self._enabled = enabled
        self._timings = timings
        self._lock = threading.Lock()
        self._closed = False
        self._tracer: Tracer | None = None
        self.status: dict = {"recorded": False, "reason": "not started"}
        self.tracing: dict[Role, KernelTracing] = {}

    def start(self) -> Tracer | None:
        """A running tracer, or None with the reason in ``status``."""
        with self._lock:
            if self._closed:
                return None
            if not self._enabled:
                self.status = {"recorded": False, "reason": "turned off (--no-kernel-trace)"}
                return None
            with self._timings.measure("tracer_start"):
                tracer = self._tracer = self._testbed.tracer(self._run_id, self._port)
                try:
                    self.tracing = dict(tracer.start())
                except KitError as reason:   # TraceUnavailable, or its helper failing
                    tracer.close()
                    self.status = {"recorded": False, "reason": str(reason)}
                    say(f"no kernel trace for this run: {reason}")
                    return None
            self.status = {"recorded": True, "instance": tracer.instance,
                           "hosts": {role: tracing.to_json()
                                     for role, tracing in self.tracing.items()}}
            limits = {why for tracing in self.tracing.values()
                      for why in tracing.limits().values()}
            for why in sorted(limits):
                say(f"kernel trace: {why}")
            return tracer

    def read(self, tracer: Tracer | None) -> str | None:
        """The trace's text; None, with the reason in ``status``, where there is none."""
        if tracer is None:
            return None
        started = time.monotonic()
        try:
            return tracer.stop()
        except KitError as error:
            self.status = {"recorded": False, "reason": f"reading it failed: {error}"}
            self.tracing = {}
            return None
        finally:
            self._timings.tracer_stop = time.monotonic() - started

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._tracer is not None:
                self._tracer.close()   # safe twice
