"""Every scenario's plan, golden: the programs' options and the client's script, for the
default parameters and at the lesson's pace over a shaped link (tests/data/plans.json,
reviewed when written: a change to a plan must show up here and be looked at again)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kit.scenarios import CATALOG, RunParameters

GOLDEN = json.loads((Path(__file__).resolve().parent.parent / "data" / "plans.json").read_text())
PARAMETERS = {"default": RunParameters(),
              "lesson-pace": RunParameters(server_delay=5.0, link_rtt=0.2)}


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_each_plan_is_the_reviewed_one(key):
    scenario, variant, parameters = key.split("/")
    plan = CATALOG[scenario].plan(variant, PARAMETERS[parameters])
    assert {"server_args": plan.server_args, "client_args": plan.client_args,
            "script": [dataclasses.asdict(step) for step in plan.script],
            "server_finish_timeout": plan.server_finish_timeout,
            "client_finish_timeout": plan.client_finish_timeout} == GOLDEN[key]


def test_every_variant_has_a_golden_plan():
    assert {key.rsplit("/", 1)[0] for key in GOLDEN} == \
        {f"{s.name}/{v}" for s in CATALOG.values() for v in s.variants}


def test_the_scripts_keep_their_order_in_time():
    for key in GOLDEN:
        times = [step["at"] for step in GOLDEN[key]["script"]]
        assert times == sorted(times), key
