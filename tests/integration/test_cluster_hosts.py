"""A study over real separate Docker engines: two Docker hosts (each its own dockerd, the
kit installed, 'netkit worker' serving one lab) and a Dask scheduler on this machine.
Every cell runs on one of the two inner engines, as run.json and each engine's own event
log say, every run passes, and nothing is left on either engine. The two engines share
this machine's kernel: their labs get subnets apart, as separate machines' may not need."""

from __future__ import annotations

import json

import pytest

from kit.testbeds.docker import labels
from tests.integration.clusterhosts import (
    clusterhost_image,
    dask_scheduler,
    start_worker,
    wait_for_workers,
)
from tests.integration.conftest import invoke
from tests.integration.dockerhosts import docker_host
from tests.integration.test_cluster import STUDY, summary
from tests.integration.test_remote_engine import kit_things

EVENTS = "/var/log/lab-events.log"
LAB_CLIENTS = (f"--filter type=container --filter event=create --filter "
               f"label={labels.ROLE}=client --format "
               f"'{{{{index .Actor.Attributes \"{labels.RUN_ID}\"}}}}'")


@pytest.fixture(scope="module")
def cluster(lab_image, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("cluster-hosts")
    image = clusterhost_image(lab_image, scratch)
    with dask_scheduler(scratch) as scheduler, \
            docker_host(lab_image, scratch / "a", preload=(lab_image.base,),
                        host_image=image, address_pool="10.31.0.0/16") as first, \
            docker_host(lab_image, scratch / "b", preload=(lab_image.base,),
                        host_image=image, address_pool="10.32.0.0/16") as second:
        hosts = [first, second]
        for host in hosts:
            # Each engine's own account of the labs it creates, kept from the start (its
            # in-memory event log holds only the last 256 events).
            host.container.exec_run(["sh", "-c", f"docker events {LAB_CLIENTS} >{EVENTS}"],
                                    detach=True)
            start_worker(host, scheduler)
        wait_for_workers(scheduler, hosts)
        yield scheduler, hosts, scratch


def test_every_cell_runs_on_one_of_the_inner_engines(cluster):
    scheduler, hosts, scratch = cluster
    (scratch / "spread.yaml").write_text(STUDY)
    result = invoke("experiment", str(scratch / "spread.yaml"), "--cluster", scheduler,
                    "--out", str(scratch / "out"), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 worker(s), 2 labs at a time" in result.stderr
    directory = scratch / "out" / "experiments" / "spread"
    rows = summary(directory)
    assert len(rows) == 12 and all(verdict == "pass" for _, verdict in rows), rows
    # With the first attempts of runs a busy machine left inconclusive (set aside, then
    # run again): every run a worker reported.
    records = [json.loads(p.read_text()) for p in sorted(directory.glob("*/*/run.json"))
               if p.parts[-3] in ("runs", "inconclusive")]
    by_host = {host.container.name: [] for host in hosts}
    for record in records:
        by_host[record["experiment"]["worker"]["hostname"]].append(record["run_id"])
    assert all(by_host.values()), {name: len(runs) for name, runs in by_host.items()}
    # Each engine's own event log holds the labs of the runs its worker reported.
    for host in hosts:
        created = host.container.exec_run(["cat", EVENTS]).output.decode().split()
        assert sorted(created) == sorted(by_host[host.container.name])
        assert kit_things(host) == []
