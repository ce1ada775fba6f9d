"""Impairments: parsing with units, refusals, and the exact commands of each engine."""

import pytest

from kit.core.errors import BadInput, EnvironmentProblem
from kit.impair.apply import NetemProbe, choose_engine, parse_probe
from kit.impair.engines import (
    TcFeatures,
    apply_commands,
    netem_apply,
    tbf_burst,
    unsupported,
    userspace_apply,
    userspace_clear,
)
from kit.impair.spec import GilbertElliott, Impairment, LinkRequest, parse_link

NO_NETEM = NetemProbe(False, "Error: Specified qdisc kind is unknown.", TcFeatures())
NETEM = NetemProbe(True, "", TcFeatures())


@pytest.mark.parametrize("text, seconds", [("100ms", 0.1), ("0.1s", 0.1), ("250us", 0.00025),
                                           ("1.5s", 1.5), ("0ms", 0.0)])
def test_latency_units(text, seconds):
    assert parse_link(latency=text).impairment.latency == pytest.approx(seconds)


@pytest.mark.parametrize("options, message", [
    ({"loss": "150%"}, "--loss must be between 0% and 100%: got 150%"),
    ({"loss": "1"}, "--loss must be a percentage like 1% or 0.5%: got '1'"),
    ({"latency": "100"}, "--latency must be between 0s and 60s: got 100 (a bare number is seconds)"),
    ({"latency": "fast"}, "--latency must be a time like 100ms, 0.1s or 500us (a bare number is seconds): got 'fast'"),
    ({"latency": "61s"}, "--latency must be between 0s and 60s: got 61s"),
    ({"rate": "10mbps"}, "--rate must be a rate in bits per second, like 512kbit, 10mbit or 1gbit: got '10mbps'"),
    ({"rate": "1kbit"}, "--rate must be between 8kbit and 100gbit: got 1kbit"),
    ({"limit": "many"}, "--limit must be a whole number of packets: got 'many'"),
    ({"limit": "0"}, "--limit must be between 1 and 10000000: got 0"),
    ({"direction": "up"}, "--direction must be one of both, client-to-server, server-to-client: got 'up'"),
    ({"impair_engine": "fast"}, "--impair-engine must be one of auto, netem, userspace: got 'fast'"),
    ({"latency": "10ms", "jitter": "1ms", "distribution": "gauss"}, "--distribution must be one of uniform, normal, pareto, paretonormal: got 'gauss'"),
    ({"jitter": "10ms"}, "--jitter needs --latency"),
    ({"reorder": "25%"}, "--reorder needs --latency"),
    ({"latency": "10ms", "distribution": "normal"}, "--distribution and --latency-correlation need --jitter"),
    ({"loss_correlation": "25%"}, "--loss-correlation needs --loss"),
    ({"loss": "1%", "loss_gemodel": "1%,30%"}, "--loss and --loss-gemodel are two loss models"),
    ({"loss_gemodel": "1%,2%,3%,4%,5%"}, "--loss-gemodel must be P,R[,1-H[,1-K]]"),
])
def test_bad_values_are_named(options, message):
    with pytest.raises(BadInput) as error:
        parse_link(**options)
    assert str(error.value).startswith(message)


def test_rate_units_are_bits():
    assert parse_link(rate="10mbit").impairment.rate == 10_000_000
    assert parse_link(rate="512kbit").impairment.rate == 512_000


def test_gemodel_defaults_r_like_netem():
    assert parse_link(loss_gemodel="1%").impairment.gemodel == GilbertElliott(1.0, 99.0)


def test_directions_choose_the_senders():
    assert parse_link(latency="1ms").senders() == ("client", "server")
    assert parse_link(latency="1ms", direction="client-to-server").senders() == ("client",)
    assert parse_link(latency="1ms", direction="server-to-client").senders() == ("server",)
    both = parse_link(latency="100ms", jitter="10ms")
    assert both.added_rtt() == pytest.approx(0.2)
    assert both.added_delay("server") == pytest.approx(0.13)
    assert parse_link(latency="100ms", direction="client-to-server").added_delay("server") == 0


def test_an_empty_request_is_empty_and_a_lone_limit_is_refused():
    assert parse_link().is_empty() and parse_link(latency="0ms").is_empty()
    assert not parse_link(loss="1%").is_empty()
    with pytest.raises(BadInput, match="alone they shape nothing"):
        parse_link(limit="500")


def test_netem_golden_command():
    imp = parse_link(latency="100ms", jitter="10ms", latency_correlation="25%",
                     distribution="normal", loss="1%", loss_correlation="10%",
                     duplicate="0.5%", corrupt="0.1%", reorder="25%",
                     reorder_correlation="50%", rate="10mbit", limit="2000").impairment
    assert netem_apply(imp) == [
        "tc qdisc replace dev eth0 root handle 4e6b: netem limit 2000 delay 100000us 10000us "
        "25% distribution normal loss random 1% 10% duplicate 0.5% corrupt 0.1% reorder 25% "
        "50% rate 10000000bit"]


def test_netem_gemodel_and_seed():
    imp = parse_link(loss_gemodel="1%,30%,90%,0.5%", seed="7").impairment
    assert netem_apply(imp) == ["tc qdisc replace dev eth0 root handle 4e6b: netem limit 10000 "
                                "loss gemodel 1% 30% 90% 0.5% seed 7"]


def test_netem_uniform_jitter_names_no_table():
    # tc has no uniform.dist: "distribution uniform" fails ("No distribution data for
    # uniform"); uniform is netem's default without the keyword.
    for distribution in (None, "uniform"):
        imp = parse_link(latency="50ms", jitter="5ms", distribution=distribution).impairment
        assert netem_apply(imp)[0].endswith("netem limit 10000 delay 50000us 5000us")


def test_userspace_golden_commands():
    imp = parse_link(latency="50ms", jitter="5ms", distribution="normal", loss="1%",
                     reorder="10%", rate="1mbit", seed="3", limit="500").impairment
    with pytest.raises(BadInput):   # seed with loss: refused before anything is built
        choose_engine(LinkRequest(imp, engine="userspace"), None)
    imp = parse_link(latency="50ms", jitter="5ms", distribution="normal", loss="1%",
                     reorder="10%", rate="1mbit", limit="500").impairment
    assert userspace_apply(imp) == [
        "netkit-delayline --queue 4711 --latency-us 50000 --jitter-us 5000 --distribution "
        "normal --reorder 10 --limit 500 --pidfile /var/lib/netkit/run/delayline.pid --stats "
        "/var/lib/netkit/run/delayline.json",
        "iptables -w -t mangle -N NETKIT",
        "iptables -w -t mangle -A NETKIT -m statistic --mode random --probability 0.01 -j DROP",
        "iptables -w -t mangle -A NETKIT -j NFQUEUE --queue-num 4711",
        "iptables -w -t mangle -A POSTROUTING -o eth0 -j NETKIT",
        "tc qdisc replace dev eth0 root handle 4e6b: tbf rate 1000000bit burst 6056 limit 757000",
    ]


def test_userspace_loss_alone_needs_no_delay_line():
    imp = parse_link(loss="100%").impairment
    assert userspace_apply(imp) == [
        "iptables -w -t mangle -N NETKIT",
        "iptables -w -t mangle -A NETKIT -m statistic --mode random --probability 1 -j DROP",
        "iptables -w -t mangle -A POSTROUTING -o eth0 -j NETKIT",
    ]


def test_apply_clears_first_so_reapplying_replaces():
    imp = parse_link(latency="10ms").impairment
    commands = apply_commands("userspace", imp)
    assert commands[:len(userspace_clear())] == userspace_clear()
    assert apply_commands("netem", imp)[-1].startswith("tc qdisc replace")


def test_clearing_touches_only_the_kits_qdisc():
    qdisc = userspace_clear()[-1]
    assert "grep -q ' 4e6b: root'" in qdisc and "del dev eth0 root handle 4e6b:" in qdisc


def test_tbf_burst_outlasts_a_tick():
    assert tbf_burst(1_000_000) == 6056
    assert tbf_burst(100_000_000) == 125_000


def test_userspace_refuses_what_it_cannot_do_by_name():
    imp = parse_link(latency="10ms", jitter="1ms", distribution="pareto", duplicate="1%",
                     corrupt="1%").impairment
    refused = unsupported("userspace", imp)
    assert refused == ["--distribution pareto (uniform and normal only)", "--duplicate",
                       "--corrupt"]
    with pytest.raises(BadInput) as error:
        choose_engine(LinkRequest(imp, engine="userspace"), None)
    assert str(error.value).startswith("the userspace engine cannot apply --distribution pareto")


def test_auto_falls_back_and_says_why():
    link = parse_link(latency="10ms")
    engine, why = choose_engine(link, NO_NETEM)
    assert engine == "userspace"
    assert "modprobe sch_netem" in why and "Specified qdisc kind is unknown" in why
    assert choose_engine(link, NETEM)[0] == "netem"


def test_auto_without_netem_refuses_netem_only_options_with_the_fix():
    with pytest.raises(BadInput) as error:
        choose_engine(parse_link(latency="10ms", duplicate="1%"), NO_NETEM)
    assert "--duplicate" in str(error.value) and "modprobe sch_netem" in str(error.value)


def test_netem_asked_for_but_missing():
    with pytest.raises(EnvironmentProblem) as error:
        choose_engine(parse_link(latency="10ms", impair_engine="netem"), NO_NETEM)
    assert "modprobe sch_netem" in str(error.value)


def test_netem_seed_needs_a_recent_tc():
    link = parse_link(loss="1%", seed="1", impair_engine="netem")
    with pytest.raises(BadInput) as error:
        choose_engine(link, NETEM)
    assert "--seed" in str(error.value)
    seeded = NetemProbe(True, "", TcFeatures(netem_seed=True))
    assert choose_engine(link, seeded)[0] == "netem"


def test_probe_output_parsed():
    # As the probe printed it on this project's kernel (Linux 6.18 without sch_netem).
    missing = parse_probe("netem: Error: Specified qdisc kind is unknown.\n")
    assert not missing.available and missing.reason == "Error: Specified qdisc kind is unknown."
    present = parse_probe("netem: ok\nseed: yes\n")
    assert present.available and present.tc.netem_seed


def test_impairment_json_omits_what_was_not_asked():
    assert parse_link(latency="10ms").impairment.to_json() == {"latency": 0.01, "limit": 10000}
    assert Impairment().is_empty()


def test_delay_line_timing_check():
    from kit.impair.checks import delay_line_check

    # As the delay lines reported them in a run at 50 ms (raw/<host>/delayline.json).
    on_time = {"packets": 30, "delayed": 30, "reordered": 0, "dropped_limit": 0,
               "max_held": 4, "mean_delay_ms": 50.0, "late_max_ms": 4.604, "late_over_1ms": 1}
    starved = dict(on_time, late_max_ms=96.2, late_over_1ms=12)
    link = {"engine": "userspace", "impairment": {"latency": 0.05},
            "delay_line": {"client": on_time, "server": on_time}}
    check = delay_line_check(link)
    assert check.passed and check.name == "link-held-its-timing"
    assert "client: 30 packets, mean delay 50 ms, latest 4.604 ms late (1 over 1 ms)" in \
        check.observed
    link["delay_line"]["server"] = starved
    assert not delay_line_check(link).passed
    assert delay_line_check(dict(link, engine="netem")) is None
