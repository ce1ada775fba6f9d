"""Studies: an experiment file run here or spread over a Dask cluster, and a cluster's
worker on this Docker host (invoke experiment, invoke worker)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kit.core.errors import BadInput
from kit.core.paths import EXPERIMENTS
from kit.core.progress import say, show
from kit.core.results import writable_directory, writable_file
from kit.core.units import image_name, labs_at_once
from kit.testbeds.base import Provider
from kit.testbeds.factory import DEFAULT_BASE_IMAGE, build_images, provider_for

if TYPE_CHECKING:
    from kit.experiment.spec import Experiment


def shipped_experiment(path: str) -> Path:
    """``path``, or where it is not a file, the experiment the kit ships by that name
    (``lesson`` or ``lesson.yaml``: experiments/ of the checkout or of the installed kit)."""
    given = Path(path)
    if given.exists() or given.is_absolute():
        return given
    for candidate in (EXPERIMENTS / path, EXPERIMENTS / f"{path}.yaml"):
        if candidate.is_file():
            return candidate
    shipped = ", ".join(sorted(p.stem for p in EXPERIMENTS.glob("*.yaml")))
    raise BadInput(f"no experiment file {path}, and the kit ships none by that name "
                   f"(it ships: {shipped})")


def experiment(path: str, parallel="1", out: str = "results",
               base_image: str = DEFAULT_BASE_IMAGE, junit: str | None = None,
               fresh_labs: bool = False, cluster: str | None = None,
               testbed: str | None = None, accept_new_host_keys: bool = False) -> int:
    """Run or resume an experiment file; 0 if every run passed, else 1. ``testbed``: a
    testbed file, its machines running the cells one at a time."""
    labs = labs_at_once(parallel)
    from kit.experiment.spec import load_experiment

    # A bad file is refused before Docker is even asked.
    study = load_experiment(shipped_experiment(path))
    writable_directory("--out", Path(out))
    junit_path = writable_file("--junit", Path(junit)) if junit else None
    image_name("--base-image", base_image, DEFAULT_BASE_IMAGE)
    provider = provider_for(testbed, base_image=base_image,
                            accept_new_host_keys=accept_new_host_keys)
    provider.check_options(False, None, images=bool(study.images))
    if study.images and (cluster is not None or study.kernels):
        raise BadInput(f"{study.path}: your images run in this machine's Docker labs: "
                       f"leave out {'--cluster' if cluster is not None else 'the kernel axis'}")
    if study.kernels:
        check_kernel_axis(study, labs, cluster, testbed)
    if provider.one_at_a_time and (labs > 1 or cluster is not None):
        raise BadInput("the two machines of --testbed hold one run at a time: leave out "
                       + ("--cluster" if cluster is not None else "--parallel"))
    if cluster is not None:
        from kit.experiment.cluster import parse_cluster

        address = parse_cluster(cluster)
        if labs > 1 or fresh_labs:
            raise BadInput("--cluster runs as many labs as its workers offer, each a fresh "
                           "one: leave out --parallel and --fresh-labs")
        if not address.local_workers:
            return run_study(study, 1, out, base_image, junit_path, False, cluster,
                             here=None)
    return run_study(study, labs, out, base_image, junit_path, fresh_labs, cluster, provider)


def check_kernel_axis(study: Experiment, labs: int, cluster: str | None,
                      testbed: str | None) -> None:
    """A kernel axis runs each kernel's cells in turn here, one at a time, each on that
    kernel's VM (or a Docker lab for host): what it cannot go with is refused."""
    if labs > 1 or cluster is not None or testbed:
        given = "--parallel" if labs > 1 else "--cluster" if cluster is not None else \
            "--testbed"
        raise BadInput(f"{study.path}: its matrix has a kernel axis, whose cells run one at "
                       f"a time on each kernel's VM here: leave out {given}")
    if any(cell.link for cell in study.cells()):
        raise BadInput(f"{study.path}: a kernel axis with a shaped link is not supported "
                       "yet (each kernel would need its own netem probe): leave out the "
                       "link options, or the kernel axis")


def worker(scheduler: str, labs="1", base_image: str = DEFAULT_BASE_IMAGE) -> int:
    """A Dask worker for this Docker host, offering ``labs`` labs; its exit status."""
    from kit.experiment.cluster import LAB, parse_cluster

    address = parse_cluster(scheduler)
    if address.local_workers:
        raise BadInput("--scheduler takes the scheduler's tcp://host:port or tls://host:port")
    count = labs_at_once(labs, "--labs")
    image_name("--base-image", base_image, DEFAULT_BASE_IMAGE)
    provider = provider_for(base_image=base_image)
    provider.preflight()
    say(f"this Docker host's lab image: {build_images(base_image)}; offering {count} lab(s) "
        f"to {address}")
    command = [sys.executable, "-m", "distributed.cli.dask_worker", str(address),
               "--nworkers", "1", "--nthreads", str(count), "--resources", f"{LAB}={count}",
               "--name", f"netkit-{platform.node()}"]
    return subprocess.run(command, check=False).returncode


def run_study(study: Experiment, parallel: int, out: str, base_image: str,
              junit_path: Path | None, fresh_labs: bool, cluster: str | None,
              here: Provider | None) -> int:
    """``here``: where this machine runs the labs (None: a cluster's workers run them
    all)."""
    from kit.experiment.study import run_experiment

    if here is not None:
        here.preflight()
    try:
        if cluster is not None:
            from kit.experiment.cluster import run_on_cluster

            directory, code = run_on_cluster(study, cluster, out, base_image, junit_path)
        else:
            directory, code = run_experiment(study, parallel, out, base_image, junit_path,
                                             fresh_labs, here)
    except KeyboardInterrupt:
        say("interrupted: the running labs were removed; finished runs are kept, and the "
            "same command resumes with the rest")
        raise
    show(f"experiment results: {directory}/summary.md, {directory}/index.html")
    return code
