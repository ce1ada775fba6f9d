"""Reaching the Docker engine, with one clear line when it cannot be reached."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests.exceptions

from kit.core.errors import EnvironmentProblem
from kit.core.interrupts import deferred_interrupt
from kit.hosts.base import HostError
from kit.testbeds.docker import labels


@functools.lru_cache(maxsize=1)
def client() -> docker.DockerClient:
    """The engine's client (``DOCKER_HOST`` and friends are honoured), checked with a ping."""
    try:
        engine = docker.from_env(timeout=120)
        engine.ping()
    except docker.errors.DockerException as error:
        raise EnvironmentProblem(_explain(error)) from None
    except requests.exceptions.RequestException as error:
        raise EnvironmentProblem(_explain(error)) from None
    return engine


def _explain(error: Exception) -> str:
    text = str(error)
    if "Permission denied" in text or "PermissionError" in text:
        return ("no permission on the Docker socket: add your user to the 'docker' group "
                "(then log in again) or run as root")
    if "FileNotFoundError" in text or "No such file" in text or "Connection refused" in text \
            or "Connection aborted" in text:
        return ("cannot reach the Docker engine: start it (systemctl start docker) "
                "or point DOCKER_HOST at a running one")
    return f"cannot use the Docker engine: {text}"


@contextmanager
def translated(what: str) -> Iterator[None]:
    """docker-py's and the transport's errors as one HostError line: 'cannot <what>: ...'."""
    try:
        yield
    except docker.errors.DockerException as error:
        explanation = getattr(error, "explanation", None) or error
        raise HostError(f"cannot {what}: {explanation}") from None
    except requests.exceptions.RequestException as error:
        raise HostError(f"cannot {what}: the Docker engine did not answer "
                        f"({type(error).__name__})") from None


def image_exists(name: str) -> bool:
    try:
        client().images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def versions() -> dict:
    """Engine facts recorded with every run."""
    info = client().version()
    return {
        "docker_engine": info.get("Version"),
        "docker_api": info.get("ApiVersion"),
        "docker_kernel": info.get("KernelVersion"),
    }


@contextmanager
def throwaway_container(image: str, command, role: str, **options):
    """A container of the kit's (labelled with ``role``), created for the block and
    removed when it ends, whatever happens: a Ctrl-C waits for the removal, and a removal
    that fails leaves it to 'invoke clean', which finds it by its label."""
    container = client().containers.create(
        image, command, labels={labels.MANAGED: "true", labels.ROLE: role}, **options)
    try:
        yield container
    finally:
        with deferred_interrupt():
            try:
                container.remove(force=True)
            except docker.errors.DockerException:
                pass
