"""Studies: an experiment file run here or spread over a Dask cluster, and a cluster's
worker on this Docker host (invoke experiment, invoke worker)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from kit.core.errors import BadInput
from kit.core.parameters import labs_at_once
from kit.core.paths import EXPERIMENTS
from kit.core.progress import say, show
from kit.core.results import writable_directory, writable_file
from kit.core.units import image_name
from kit.testbeds.docker.image import DEFAULT_BASE_IMAGE, ensure_lab_image


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
               fresh_labs: bool = False, cluster: str | None = None) -> int:
    """Run or resume an experiment file; 0 if every run passed, else 1."""
    labs = labs_at_once(parallel)
    from kit.experiment.spec import load_experiment

    path = str(shipped_experiment(path))
    load_experiment(Path(path))   # a bad file is refused before Docker is even asked
    writable_directory("--out", Path(out))
    junit_path = writable_file("--junit", Path(junit)) if junit else None
    if cluster is not None:
        from kit.experiment.cluster import parse_cluster

        address = parse_cluster(cluster)
        if labs > 1 or fresh_labs:
            raise BadInput("--cluster runs as many labs as its workers offer, each a fresh "
                           "one: leave out --parallel and --fresh-labs")
        if not address.local_workers:
            return run_study(path, 1, out, base_image, junit_path, False, cluster,
                             docker_here=False)
    return run_study(path, labs, out, base_image, junit_path, fresh_labs, cluster)


def worker(scheduler: str, labs="1", base_image: str = DEFAULT_BASE_IMAGE) -> int:
    """A Dask worker for this Docker host, offering ``labs`` labs; its exit status."""
    from kit.experiment.cluster import LAB, parse_cluster

    address = parse_cluster(scheduler)
    if address.local_workers:
        raise BadInput("--scheduler takes the scheduler's tcp://host:port or tls://host:port")
    count = labs_at_once(labs, "--labs")
    image_name("--base-image", base_image, DEFAULT_BASE_IMAGE)
    from kit.cli.commands import preflight

    preflight()
    image = ensure_lab_image(base_image)
    say(f"this Docker host's lab image: {image.name}; offering {count} lab(s) to {address}")
    command = [sys.executable, "-m", "distributed.cli.dask_worker", str(address),
               "--nworkers", "1", "--nthreads", str(count), "--resources", f"{LAB}={count}",
               "--name", f"netkit-{platform.node()}"]
    return subprocess.run(command, check=False).returncode


def run_study(path: str, parallel: int, out: str, base_image: str, junit_path: Path | None,
              fresh_labs: bool, cluster: str | None = None, docker_here: bool = True) -> int:
    """``docker_here``: this machine's Docker runs the labs (False: a cluster's workers)."""
    from kit.experiment.study import run_experiment

    if docker_here:
        from kit.cli.commands import preflight

        preflight()
    try:
        directory, code = run_experiment(path, parallel, out, base_image, junit_path,
                                         fresh_labs, cluster)
    except KeyboardInterrupt:
        say("interrupted: the running labs were removed; finished runs are kept, and the "
            "same command resumes with the rest")
        raise
    show(f"experiment results: {directory}/summary.md, {directory}/index.html")
    return code
