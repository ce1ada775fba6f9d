"""Integration tests start real containers. Without Docker they skip with the reason,
except in CI (CI=true), where a missing Docker is a failure, never a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kit.core.errors import KitError
from kit.testbeds.docker import labels

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def docker_client():
    from kit.testbeds.docker.compose import compose_cli
    from kit.testbeds.docker.engine import client

    try:
        engine = client()
        compose_cli()
    except KitError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the integration tests cannot run: {error}")
        pytest.skip(f"needs Docker and Compose: {error}")
    return engine


@pytest.fixture(scope="session")
def lab_image(docker_client):
    """The lab image, built once (with its base image, when no registry has one)."""
    from kit.testbeds.docker.image import ensure_lab_image

    return ensure_lab_image()


def kit_resources(engine) -> list[str]:
    filters = labels.managed_filter()
    return ([f"container {c.name}"
             for c in engine.containers.list(all=True, filters=filters, ignore_removed=True)]
            + [f"network {n.name}" for n in engine.networks.list(filters=filters)])


@pytest.fixture(autouse=True)
def nothing_left_behind(docker_client):
    """Every integration test must leave no container or network of the kit behind."""
    before = set(kit_resources(docker_client))
    yield
    left = set(kit_resources(docker_client)) - before
    assert not left, f"left behind: {sorted(left)}"


def invoke(*arguments, timeout=300, **options):
    return subprocess.run([sys.executable, "-m", "invoke", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, **options)


@pytest.fixture(autouse=True)
def no_trace_instance_left(lab_image):
    """No run may leave its tracefs instance behind (the kernel's, not Docker's)."""
    from kit.testbeds.docker.tracer import leftover_instances

    before = set(leftover_instances(lab_image.name))
    yield
    left = set(leftover_instances(lab_image.name)) - before
    assert not left, f"tracefs instances left behind: {sorted(left)}"


COMPOSES = ("v2", "v1")


@pytest.fixture(params=COMPOSES)
def compose(request, monkeypatch, docker_client):
    """A lifecycle test once under each Compose (NETKIT_COMPOSE, which the kit's
    subprocesses inherit too); the rest of the suite runs under the default one."""
    from kit.testbeds.docker.compose import compose_cli

    monkeypatch.setenv("NETKIT_COMPOSE", request.param)
    compose_cli.cache_clear()
    try:
        cli = compose_cli()
    except KitError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but Compose {request.param} is missing: {error}")
        pytest.skip(f"needs Compose {request.param}: {error}")
    yield cli
    compose_cli.cache_clear()


@pytest.fixture
def netkit_labs():
    """The plugin's labs, for the kit's own tests: shared by one test's runs and removed
    at its end (a session's would outlive the test, and every test leaves nothing)."""
    from kit.cli.pytest_plugin import SessionLabs

    labs = SessionLabs()
    try:
        yield labs
    finally:
        labs.close()
