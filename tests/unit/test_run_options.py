"""Every option of a run is declared once (kit/core/run_options.py): the task's options
and help, netkit.run()'s keywords, an experiment file's parameters and the request
parser's defaults all come from that table."""

from __future__ import annotations

import inspect

import pytest

from kit.cli.pytest_plugin import Netkit
from kit.cli.request import build_request
from kit.cli.tasks import run as run_task
from kit.core.errors import BadInput
from kit.core.parameters import PARSERS, RunParameters
from kit.core.run_options import BY_NAME, IN_A_TEST, PARAMETER, RUN_OPTIONS, defaults
from kit.experiment.spec import PARAMETERS
from kit.impair.options import LINK_OPTIONS


def test_the_run_tasks_options_and_help_are_the_tables():
    names = [option.name for option in RUN_OPTIONS] + [option.name for option in LINK_OPTIONS]
    arguments = {argument.name: argument for argument in run_task.get_arguments()}
    assert list(arguments) == names
    assert {name: arguments[name].help for name in BY_NAME} == \
        {option.name: option.help for option in RUN_OPTIONS}
    assert sorted(run_task.iterable) == sorted(o.name for o in RUN_OPTIONS if o.repeatable)
    defaults_given = {name: p.default for name, p in
                      inspect.signature(run_task.body).parameters.items() if name in BY_NAME}
    assert defaults_given == defaults()


def test_a_tests_run_takes_the_runs_own_options_and_the_links_only():
    keywords = set(inspect.signature(Netkit.run).parameters) - {"self", "check"}
    assert keywords == {o.name for o in IN_A_TEST} | {o.name for o in LINK_OPTIONS}
    for commands_own in ("out", "parallel", "junit", "testbed", "keep"):
        with pytest.raises(TypeError, match=f"no option {commands_own}"):
            Netkit(out=None).run("close", "graceful", **{commands_own: "x"})


def test_the_experiment_files_parameters_are_the_tables_parameters():
    table = [option.name for option in RUN_OPTIONS if option.group == PARAMETER]
    assert list(PARSERS) == table == list(PARAMETERS)
    assert set(table) <= set(RunParameters.__dataclass_fields__)


def test_the_request_takes_the_tables_defaults(tmp_path):
    request = build_request("close", out=str(tmp_path))
    assert request.params.server_delay == float(BY_NAME["server_delay"].default)
    assert request.params.sigpipe == BY_NAME["sigpipe"].default
    assert request.base_image == BY_NAME["base_image"].default
    assert request.keep is BY_NAME["keep"].default and request.junit is None
    with pytest.raises(TypeError, match="no run option colour"):
        build_request("close", colour="red")


@pytest.mark.parametrize("name,value,said", [
    ("server_delay", "fast", "--server-delay"), ("sigpipe", "loud", "--sigpipe"),
    ("ss_interval", "2s", "--ss-interval"), ("parallel", "0", "--parallel"),
    ("base_image", "a b", "--base-image"), ("kernel_trace", "yes", "--kernel-trace"),
])
def test_each_option_validates_its_value_and_names_its_flag(name, value, said):
    with pytest.raises(BadInput, match=said):
        BY_NAME[name].check(value)
