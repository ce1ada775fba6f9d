"""The netem probe of a Docker testbed: a throwaway container of the lab image."""

from __future__ import annotations

import secrets

import docker.errors

from kit.core.errors import EnvironmentProblem
from kit.impair.apply import PROBE_SCRIPT, NetemProbe, parse_probe
from kit.testbeds.docker.engine import throwaway_container


def probe_netem(image: str) -> NetemProbe:
    """Really install and remove a netem qdisc, in a throwaway container of the lab image
    on the same kernel (its own loopback only: no network is created)."""
    try:
        with throwaway_container(image, ["sh", "-c", PROBE_SCRIPT], "netem-probe",
                                 name=f"netkit-probe-{secrets.token_hex(3)}",
                                 network_mode="none", cap_add=["NET_ADMIN"]) as container:
            container.start()
            container.wait(timeout=30)
            output = container.logs(stdout=True, stderr=True).decode(errors="replace")
    except docker.errors.DockerException as error:
        raise EnvironmentProblem(f"the netem probe could not run: {error}") from None
    return parse_probe(output)
