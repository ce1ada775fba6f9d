"""Reaching the Docker engine, with one clear line when it cannot be reached."""

from __future__ import annotations

import atexit
import functools
import os
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests.exceptions

from kit.core.errors import BadInput, EnvironmentProblem
from kit.core.interrupts import deferred_interrupt
from kit.hosts.base import HostError
from kit.testbeds.docker import labels
from kit.testbeds.docker.tunnel import EngineTunnel
from kit.testbeds.ssh.config import SshTarget, parse_target
from kit.testbeds.ssh.connection import resolve
from kit.testbeds.ssh.keys import KnownHosts

_trust_new_host_keys = False


def trust_new_host_keys() -> None:
    """Record an unknown host key of an ssh:// engine (--accept-new-host-keys)."""
    global _trust_new_host_keys
    _trust_new_host_keys = True


def engine_url() -> str | None:
    """Where the engine is: DOCKER_HOST, else the docker CLI's current context (as the
    docker CLI and docker-py decide), else None for the local socket."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    try:
        return docker.ContextAPI.kwargs_from_context().get("base_url")
    except docker.errors.DockerException as error:
        raise EnvironmentProblem(f"cannot read the docker context: {error}") from None


def engine_over_ssh() -> bool:
    return (engine_url() or "").startswith("ssh://")


NEW_HOST_KEYS_WITHOUT_SSH = ("--accept-new-host-keys goes with --testbed FILE (machines over "
                             "SSH) or an ssh:// DOCKER_HOST")


def is_remote() -> bool:
    """Is the engine elsewhere (paths on this machine mean nothing to it)?"""
    url = engine_url() or ""
    return url.startswith(("ssh://", "tcp://", "http://", "https://"))


@functools.lru_cache(maxsize=1)
def _tunnel() -> EngineTunnel | None:
    url = engine_url()
    if not url or not url.startswith("ssh://"):
        return None
    target = ssh_target(url)
    login = resolve(target)
    tunnel = EngineTunnel(target, login, KnownHosts(list(login.known_hosts),
                                                   accept_new=_trust_new_host_keys)).open()
    atexit.register(tunnel.close)
    return tunnel


def close_tunnel() -> None:
    """Close an ssh:// engine's tunnel now: a process that ends with os._exit (a
    multiprocessing child) runs no atexit handler."""
    if _tunnel.cache_info().currsize:
        tunnel = _tunnel()
        if tunnel is not None:
            tunnel.close()


def ssh_target(url: str) -> SshTarget:
    parsed = urllib.parse.urlsplit(url)
    target = parse_target(parsed.netloc) if not parsed.path.strip("/") else None
    if target is None:
        raise BadInput(f"DOCKER_HOST={url} is not ssh://[user@]host[:port]: fix it, or unset "
                       "it to use the local engine")
    return target


def compose_environment() -> dict[str, str]:
    """What Compose needs to reach the same engine as the kit: the tunnel's socket for an
    ssh:// engine, the context's endpoint when a context chose it."""
    tunnel = _tunnel()
    if tunnel is not None:
        return {"DOCKER_HOST": tunnel.url}
    url = engine_url()
    return {"DOCKER_HOST": url} if url and not os.environ.get("DOCKER_HOST") else {}


@functools.lru_cache(maxsize=1)
def client() -> docker.DockerClient:
    """The engine's client (``DOCKER_HOST`` and the docker context are honoured; an
    ssh:// engine through the kit's tunnel), checked with a ping."""
    try:
        tunnel = _tunnel()
        # docker-py keeps an idle connection per URL for its last num_pools URLs; through
        # the tunnel each is an SSH session, so as few as its own SSH transport keeps.
        engine = (docker.DockerClient(base_url=tunnel.url, timeout=120,
                                      num_pools=docker.constants.DEFAULT_NUM_POOLS_SSH)
                  if tunnel else docker.from_env(timeout=120))
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
