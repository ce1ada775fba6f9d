import pytest

from kit.cli.request import build_request
from kit.core.errors import BadInput
from kit.core.units import duration


def test_defaults_run_both_variants(tmp_path):
    request = build_request("close", out=str(tmp_path))
    assert request.runs == (("close", "graceful"), ("close", "abrupt"))
    assert request.params.server_delay == 1.0
    assert request.params.ss_interval <= 0.05


@pytest.mark.parametrize("text,value", [("2", 2.0), ("0.5s", 0.5), ("250ms", 0.25),
                                        ("500us", 0.0005), (3, 3.0)])
def test_one_duration_grammar_a_bare_number_is_seconds(text, value):
    assert duration("--server-delay", text, 0, 60) == value


def test_the_same_grammar_for_the_link_and_the_run(tmp_path):
    from kit.impair.spec import parse_link

    assert parse_link(latency="0.1").impairment.latency == 0.1
    assert build_request("close", server_delay="100ms", out=str(tmp_path)).params.server_delay == 0.1


@pytest.mark.parametrize("arguments,message", [
    ({"scenario": "nope"}, "unknown scenario 'nope': choose one of close, "),
    ({"scenario": "all", "variant": "abrupt"}, "--variant goes with one scenario"),
    ({"scenario": None}, "--scenario is required"),
    ({"scenario": "close", "variant": "gentle"}, "has no variant 'gentle': choose one of graceful, abrupt"),
    ({"scenario": "close", "server_delay": "150%"}, "--server-delay must be a time like 100ms, 0.1s or 500us (a bare number is seconds): got '150%'"),
    ({"scenario": "close", "server_delay": "0"}, "--server-delay must be between 0.1s and 60s: got 0 (a bare number is seconds)"),
    ({"scenario": "close", "ss_interval": "5"}, "--ss-interval must be between"),
    ({"scenario": "close", "sigpipe": "catch"}, "--sigpipe must be one of ignore, default, handler"),
    ({"scenario": "close", "keep": True}, "--keep keeps one lab up: give --variant too"),
])
def test_bad_input_names_the_option(tmp_path, arguments, message):
    with pytest.raises(BadInput) as raised:
        build_request(out=str(tmp_path), **arguments)
    assert message in str(raised.value)


def test_out_must_be_a_writable_directory(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(BadInput, match="results cannot be written there \\(it is a file\\)"):
        build_request("close", out=str(a_file))


def test_all_runs_every_variant_of_the_catalog(tmp_path):
    from kit.scenarios import CATALOG

    request = build_request("all", out=str(tmp_path))
    assert len(request.runs) == sum(len(s.variants) for s in CATALOG.values())
    assert request.runs[0] == ("close", "graceful")
