"""Several runs at a time: ``invoke run --scenario all --parallel N``.

The runs become a study (kit.experiment): the request is made an experiment in memory
(its file written in the study's directory), and the experiment runner runs it with its
progress, its inconclusive-run retries and its resume. The same request always lands in
the same directory, so running the command again after Ctrl-C resumes it; any other
request gets a directory of its own.
"""

from __future__ import annotations

import hashlib

import yaml

from kit.cli.request import ALL, RunRequest
from kit.core.errors import BadInput
from kit.experiment.spec import Experiment, load_experiment


def check_parallel(request: RunRequest, parallel: int) -> None:
    """What --parallel (already a number of labs) cannot go with."""
    if parallel > 1 and request.custom is not None:
        raise BadInput("--parallel runs several scenarios or variants at once: your own "
                       "programs are one run; leave out --parallel")
    if parallel > 1 and len(request.runs) == 1:
        raise BadInput("--parallel runs several variants at once: leave out --variant, or "
                       "--parallel")
    if parallel > 1 and request.keep:
        raise BadInput("--keep keeps one lab up: leave out --parallel")


def study_text(request: RunRequest) -> str:
    """The request as an experiment file (docs/experiments.md)."""
    return yaml.safe_dump(study_document(request), sort_keys=False)


def study_document(request: RunRequest) -> dict:
    variants: dict[str, list[str]] = {}
    for scenario, variant in request.runs:
        variants.setdefault(scenario, []).append(variant)
    params = request.params
    body = {
        "runs": [{"scenario": name, "variants": names} for name, names in variants.items()],
        "parameters": {"server_delay": f"{params.server_delay:g}s", "sigpipe": params.sigpipe,
                       "ss_interval": f"{params.ss_interval:g}s",
                       "kernel_trace": params.kernel_trace},
    }
    if request.link_options:
        body["link"] = dict(request.link_options)
    digest = hashlib.sha256(yaml.safe_dump(body, sort_keys=True).encode()).hexdigest()[:8]
    what = "the whole catalog" if request.scenario == ALL else f"scenario {request.scenario}"
    head = {"name": f"{'catalog' if request.scenario == ALL else request.scenario}-{digest}",
            "description": f"{what}, as 'run --parallel' was asked to run it"}
    return {**head, **body}


def study_of(request: RunRequest) -> Experiment:
    """The study of ``request``, made in memory; it writes its experiment.yaml in the
    directory it runs in (``out``/experiments/<its name>)."""
    document = study_document(request)
    path = request.out / "experiments" / document["name"] / "experiment.yaml"
    return load_experiment(path, yaml.safe_dump(document, sort_keys=False))
