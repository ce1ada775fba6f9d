"""Your programs as images (--server-image, --client-image): made ready on the engine
before a run, and run as a host's program in a container of their own that joins the
network namespace of the host's kit container, as a pod's containers join its pause
container. The kit's container (the sidecar) holds the namespace: its observers start
before the application's first packet and outlive its end. The application's container
gets no capability beyond the engine's defaults, nothing is installed in it (an image
FROM scratch works), and it carries the kit's labels, so it goes with its lab."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import docker.errors
import docker.utils
import requests

from kit.core.errors import BadInput
from kit.core.progress import step
from kit.hosts.base import Host
from kit.testbeds.docker import labels
from kit.testbeds.docker.engine import client, translated
from kit.testbeds.docker.image import build_image, context_hash
from kit.testbeds.docker.stdin import AttachedStdin

APP_OF = "io.netkit.app-of"     # the role whose namespace an application's container joins


def ensure_images(images: tuple[str, ...]) -> None:
    """Each image on the engine, pulled (with progress) if it is missing; BadInput, one
    line, for an image the engine refuses or that no registry gives."""
    engine = client()
    for image in images:
        try:
            engine.images.get(image)
            continue
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as error:
            raise BadInput(f"image {image!r}: the engine refuses it: "
                           f"{error.explanation or error}") from None
        pull(engine, image)


def build_app_images(builds: tuple[tuple[str, str], ...], base_image: str) -> None:
    """Each (name, directory) built here unless the engine has it from the same files,
    ``base_image`` (the lab's base) as its BASE_IMAGE: where no registry has Debian's
    image, the one the kit built with debootstrap stands in for it."""
    for name, directory in builds:
        wanted = context_hash(Path(directory), client().images.get(base_image).id)
        try:
            built = client().images.get(name).labels.get(labels.CONTEXT_HASH)
        except docker.errors.ImageNotFound:
            built = None
        if built != wanted:
            build_image(name, Path(directory), {"BASE_IMAGE": base_image}, "app", wanted,
                        f"building {name} from {directory}")


def pull(engine: Any, image: str) -> None:
    repository, tag = docker.utils.parse_repository_tag(image)
    try:
        with step(f"pulling {image} (it is not on the engine)") as progress:
            for event in engine.api.pull(repository, tag=tag or "latest", stream=True,
                                         decode=True):
                if "error" in event:
                    raise docker.errors.APIError(event["error"])
                progress.update(" ".join(str(event[key]) for key in ("id", "status")
                                         if key in event))
    except (docker.errors.APIError, requests.exceptions.RequestException) as error:
        said = (getattr(error, "explanation", None) or str(error)).strip().splitlines()
        raise BadInput(f"image {image} is not on the engine and could not be pulled "
                       f"({said[0] if said else type(error).__name__}): build it, or load "
                       f"it with 'docker load -i FILE.tar', then run again") from None


class AppProcess(AttachedStdin):
    """An application's container as a host's program: its output, the container's
    logs, is written to ``output`` on the host once it ends; its exit status is the
    engine's; stdin (a client's) goes through the attached socket."""

    def __init__(self, host: Host, container: Any, command: list[str], output: str | None,
                 stdin_socket: Any = None):
        self._host = host
        self.container = container
        self.command = command
        self.host_name = host.name
        self._output = output
        self._status: int | None = None
        self.attach(stdin_socket)

    def poll(self) -> int | None:
        if self._status is None:
            with translated(f"ask about the {self._host.name}'s container"):
                state = self.container.client.api.inspect_container(self.container.id)["State"]
            if state["Status"] not in ("exited", "dead"):
                return None
            self._status = int(state["ExitCode"])
            self.save_output()
        return self._status

    def signal(self, signum: signal.Signals) -> None:
        try:
            self.container.kill(signal=int(signum))
        except docker.errors.APIError:
            pass    # it already ended (409: not running)

    def save_output(self) -> None:
        """What the container said so far, into its output file on the host."""
        if self._output is None:
            return
        with translated(f"read the {self._host.name}'s container's output"):
            said = self.container.logs(stdout=True, stderr=True)
        self._host.put_file(self._output, said)

    def release(self) -> None:
        """Remove the container (its output is saved first if it still runs)."""
        self.detach()
        try:
            if self._status is None and self.poll() is None:
                self.save_output()
        finally:
            try:
                self.container.remove(force=True)
            except docker.errors.APIError:
                pass    # gone, or going: the lab's removal by label takes it either way


def start_app(host: Host, sidecar: Any, image: str, command: list[str], stdin: bool,
              output: str | None) -> AppProcess:
    """``image`` started in the network namespace of ``host``'s container ``sidecar``
    (``command``, if not empty, as its command), with the run's labels and no
    capability added."""
    marks = {labels.MANAGED: "true", labels.KEPT: "false", APP_OF: host.name,
             labels.RUN_ID: sidecar.labels.get(labels.RUN_ID, "")}
    with translated(f"start the {host.name}'s image {image}"):
        api = sidecar.client.api
        # Not detached with stdin: the engine then ends its stdin when the socket's is
        # closed (StdinOnce), as a client's input ends. The engine's init (docker run
        # --init) as PID 1 passes the kit's SIGTERM on: a program that is PID 1 itself
        # would not get it (the kernel drops signals PID 1 does not handle).
        def create(init: bool) -> dict:
            return api.create_container(
                image, command=command or None, labels=marks, stdin_open=stdin,
                detach=not stdin, name=f"{sidecar.name}-app",
                host_config=api.create_host_config(network_mode=f"container:{sidecar.id}",
                                                   init=init))
        try:
            created = create(init=True)
        except docker.errors.APIError as error:
            if "init" not in str(error.explanation or ""):
                raise
            created = create(init=False)     # an engine without docker-init
        container = sidecar.client.containers.get(created["Id"])
        attached = container.attach_socket(params={"stdin": 1, "stream": 1}) if stdin else None
        try:
            container.start()
        except docker.errors.APIError:
            container.remove(force=True)
            raise
    return AppProcess(host, container, command or [image], output, attached)
