"""The lab pool's bookkeeping (with stand-in labs), a reused lab's ports, the reset's
verdict, and how several runs become a study (run --parallel)."""

from __future__ import annotations

import threading

import pytest

from kit.cli.catalog import check_parallel, study_of, study_text
from kit.cli.request import build_request
from kit.core.errors import BadInput, LabFailure
from kit.core.units import labs_at_once
from kit.experiment.study import longest_first, time_bound
from kit.hosts.base import CommandResult
from kit.impair.apply import PROBE_PORT
from kit.impair.spec import parse_link
from kit.testbeds.docker import pool as pools
from kit.testbeds.docker.image import LabImage
from kit.testbeds.docker.pool import PORTS, LabPool, Lease, PooledTestbed, reset

IMAGE = LabImage("netkit/lab:test", "sha256:0", "debian:bookworm-slim")


class StandInLab:
    """A ComposeLab that only counts: ups, and removals (by label) by lab id."""

    ups: list[str] = []
    downs: list[str] = []
    resets: list[str] = []

    def __init__(self, run_id: str, image: str, keep: bool = False, user_dir=None):
        self.run_id = run_id
        self.user_dir = user_dir

    def up(self) -> None:
        StandInLab.ups.append(self.run_id)


@pytest.fixture
def pool(monkeypatch):
    StandInLab.ups, StandInLab.downs, StandInLab.resets = [], [], []
    monkeypatch.setattr(pools, "ComposeLab", StandInLab)
    monkeypatch.setattr(pools, "start_helper", lambda image, owner: type("C", (), {"name": "t1"}))
    monkeypatch.setattr(pools, "remove_shared_helper", lambda name: StandInLab.downs.append(name))
    monkeypatch.setattr(pools, "remove_by_label", lambda lab_id: StandInLab.downs.append(lab_id))
    monkeypatch.setattr(pools, "reset_lab", lambda lab_id: StandInLab.resets.append(lab_id))
    return LabPool(IMAGE)


def test_a_lab_given_back_is_lent_again_with_one_more_run_behind_it(pool):
    first = pool.take()
    assert first.runs_before == 0 and first.tracer == "t1"
    pool.give_back(first)
    again = pool.take()
    assert (again.lab, again.runs_before) == (first.lab, 1)
    assert StandInLab.ups == [first.lab]
    assert StandInLab.resets == [first.lab]     # once, between the two runs, not before


def test_a_lab_is_reset_as_it_is_given_back_and_lent_only_once_clean(pool, monkeypatch):
    started, finish = threading.Event(), threading.Event()

    def slow_reset(lab_id):
        started.set()
        assert finish.wait(5)
        StandInLab.resets.append(lab_id)
    monkeypatch.setattr(pools, "reset_lab", slow_reset)
    lease = pool.take()
    pool.give_back(lease)
    assert started.wait(5)      # begun at once, while the run's results are written
    taking = threading.Thread(target=lambda: taken.append(pool.take()))
    taken: list[Lease] = []
    taking.start()
    taking.join(0.2)
    assert taken == []          # the next run waits for the reset
    finish.set()
    taking.join(5)
    assert taken[0].lab == lease.lab and StandInLab.resets == [lease.lab]


def test_a_lab_that_does_not_come_clean_is_removed_and_replaced(pool, monkeypatch):
    def dirty(lab_id):
        raise LabFailure(f"the pooled lab {lab_id} could not be reset: client: dirty mangle")
    monkeypatch.setattr(pools, "reset_lab", dirty)
    lease = pool.take()
    pool.give_back(lease)
    replacement = pool.take()
    assert replacement.lab != lease.lab and replacement.runs_before == 0
    assert StandInLab.downs == [lease.lab]


def test_labs_in_use_are_not_lent_twice_and_mounts_are_not_mixed(pool):
    one, two = pool.take(), pool.take()
    assert one.lab != two.lab
    pool.give_back(one, user_dir="/mine")
    assert pool.take().lab not in (one.lab, two.lab)     # no free lab without /mine
    assert pool.take("/mine").lab == one.lab


def test_a_lab_whose_run_ended_in_an_error_is_removed(pool):
    lease = pool.take()
    pool.give_back(lease, reusable=False)
    assert StandInLab.downs == [lease.lab]
    assert pool.take().lab != lease.lab


def test_closing_removes_every_lab_and_the_tracer_and_refuses_more(pool):
    leases = [pool.take(), pool.take()]
    pool.give_back(leases[0])
    pool.close()
    assert sorted(StandInLab.downs) == sorted([lease.lab for lease in leases] + ["t1"])
    pool.give_back(leases[1])      # a run that ends after the close: nothing to reuse
    with pytest.raises(LabFailure, match="closed"):
        pool.take()


def test_a_lab_that_fails_to_come_up_is_removed(pool, monkeypatch):
    def broken(self):
        raise LabFailure("compose up failed")
    monkeypatch.setattr(StandInLab, "up", broken)
    with pytest.raises(LabFailure):
        pool.take()
    assert len(StandInLab.downs) == 1


def test_a_lab_that_comes_up_after_the_pool_closed_is_removed_too(pool, monkeypatch):
    def closing_meanwhile(self):
        pool.close()     # a Ctrl-C's close() while compose up still runs
        StandInLab.ups.append(self.run_id)
    monkeypatch.setattr(StandInLab, "up", closing_meanwhile)
    with pytest.raises(LabFailure, match="closed while a lab came up"):
        pool.take()
    assert StandInLab.downs == StandInLab.ups * 2   # by close(), and once it was up


def test_each_run_of_a_lab_has_a_port_of_its_own_and_never_the_probes():
    ports = [PooledTestbed(IMAGE, Lease("l", n, None)).port_for(13211) for n in range(100)]
    assert ports[0] == 13211 and len(set(ports)) == 100
    assert PROBE_PORT not in ports and ports[-1] == 13211 + 100


def test_a_lab_s_ports_stay_below_the_range_docker_s_resolver_draws_from():
    # Docker's DNS resolver listens in each container on a port of 32768-60999.
    ports = {PooledTestbed(IMAGE, Lease("l", n, None)).port_for(13211)
             for n in range(0, 10 * PORTS, 7)}
    assert min(ports) == 13211 and max(ports) < 32768


class ResetHost:
    def __init__(self, name: str, exit_code: int, stdout: str):
        self.name, self.exit_code, self.stdout = name, exit_code, stdout
        self.commands: list[list[str]] = []

    def run(self, command, timeout=30, check=True):
        self.commands.append(command)
        return CommandResult(tuple(command), self.exit_code, self.stdout, "")


def test_a_reset_clears_the_shaping_first_then_resets_and_reports_what_stayed():
    clean = ResetHost("client", 0, "clean\n")
    dirty = ResetHost("server", 1, "dirty: processes 12 (sleep)\ndirty: 3 conntrack entries\n")
    with pytest.raises(LabFailure) as error:
        reset([clean, dirty], "pool-x-1")
    assert str(error.value) == ("the pooled lab pool-x-1 could not be reset: server: "
                                "dirty: processes 12 (sleep) dirty: 3 conntrack entries")
    script = clean.commands[0][-1]
    assert script.index("iptables -w -t mangle -D POSTROUTING") < script.index("netkit-reset")
    reset([clean], "pool-x-1")    # clean: no error


def request(**given):
    return build_request(given.pop("scenario", "all"), out=given.pop("out", "/tmp"), **given)


def test_a_request_becomes_an_experiment_with_the_same_runs_and_parameters(tmp_path):
    asked = request(server_delay="500ms", link_options={"latency": "20ms"},
                    out=str(tmp_path))
    experiment = study_of(asked)
    assert [(c.run.scenario.name, c.variant) for c in experiment.cells()] == list(asked.runs)
    assert experiment.params.server_delay == 0.5 and experiment.link == {"latency": "20ms"}
    assert experiment.name.startswith("catalog-")


def test_the_same_request_names_the_same_study_and_another_one_another():
    assert study_text(request()) == study_text(request())
    assert study_text(request()).splitlines()[0] != \
        study_text(request(server_delay="2")).splitlines()[0]
    assert study_text(request(scenario="close")).startswith("name: close-")


@pytest.mark.parametrize("given,parallel,said", [
    ({"scenario": "close", "variant": "graceful"}, 2, "leave out --variant"),
    ({"scenario": None, "server_command": "true", "client_command": "true"}, 2, "your own"),
])
def test_parallel_refuses_what_it_cannot_run(given, parallel, said):
    with pytest.raises(BadInput, match=said):
        check_parallel(request(**given), parallel)


@pytest.mark.parametrize("given,said", [("0", "between 1 and 64"), ("65", "between 1 and 64"),
                                        ("two", "a whole number of labs")])
def test_labs_at_once_is_a_whole_number_from_1_to_64(given, said):
    assert labs_at_once("8") == 8
    with pytest.raises(BadInput, match=said):
        labs_at_once(given)


def test_the_longest_runs_are_scheduled_first(tmp_path):
    experiment = study_of(request(out=str(tmp_path)))
    order = longest_first(experiment.cells(), experiment)
    longest = [cell.id for cell in order[:5]]
    assert all(cell.startswith(("linger-timeout", "lesson")) for cell in longest), longest
    bounds = [time_bound(cell, experiment) for cell in order]
    assert bounds == sorted(bounds, reverse=True)
    assert experiment.path.parent.parent == tmp_path / "experiments"
    assert not experiment.path.exists()     # made in memory: the study writes it


@pytest.mark.parametrize("parallel,engines,said", [
    (8, {}, None),
    (9, {}, "9 labs at a time on 2 cores, which hold about 8 labs:"),
    (4, {"c": "userspace"}, "the userspace delay lines share the CPU"),
    (5, {"c": "userspace"}, "which hold about 4 labs with a userspace delay line: runs "
                            "whose programs or link wait for a CPU are marked inconclusive "
                            "(programs-got-the-cpu, link-held-its-timing) and run again at "
                            "the end, 4 at a time, then one at a time if still inconclusive"),
    (5, {"c": "netem"}, None),
])
def test_the_study_says_when_the_machine_cannot_hold_its_labs(monkeypatch, parallel, engines,
                                                              said):
    from kit.experiment import study
    from kit.impair.shaping import Shaping

    lines: list[str] = []
    monkeypatch.setattr(study.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(study, "say", lines.append)
    link = parse_link(latency="20ms")
    study.warn_about_load(parallel, {cell: Shaping(link, engine, "asked")
                                     for cell, engine in engines.items()})
    assert (said is None and not lines) or (len(lines) == 1 and said in lines[0]), lines


@pytest.mark.parametrize("parallel,holds,levels", [
    (8, 4, [4, 1]),     # asked for more than the machine holds: again at what it holds
    (4, 4, [1]),        # the first attempts were at what it holds: again alone
    (2, 4, [1]),
    (8, 1, [1]),
    (1, 4, [1]),        # one lab at a time: a moment's load elsewhere, again once
])
def test_inconclusive_runs_go_again_at_what_the_machine_holds_then_alone(parallel, holds,
                                                                        levels):
    from kit.experiment.study import rerun_levels

    assert rerun_levels(parallel, holds) == levels
