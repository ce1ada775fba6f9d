"""The shell commands that apply or clear an impairment on one host's eth0.

Building them is pure (unit-tested with golden lists); kit.impair.apply runs them.
Two engines:

- netem: one ``tc qdisc replace ... netem`` on the sender's egress (root qdisc);
- userspace, for kernels without sch_netem: loss by iptables' ``statistic`` match,
  latency, jitter and reordering by ``netkit-delayline`` on an NFQUEUE, rate by ``tbf``.

Everything the kit installs is marked as its own (qdisc handle 4e6b:, "Nk" in ASCII;
the mangle chain NETKIT; NFQUEUE number 4711), so clearing removes only that.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from kit.core.errors import BadInput
from kit.impair.spec import Impairment

DEVICE = "eth0"
HANDLE = "4e6b:"
CHAIN = "NETKIT"
QUEUE = 4711
WORKDIR = "/var/lib/netkit/run"     # a Docker lab host's run directory


def delay_line_files(workdir: str = WORKDIR) -> tuple[str, str]:
    """The delay line's PID file and its report, in the run's directory on the host: the
    run's files carry the report (raw/<host>/delayline.json), and a machine's cleanup
    kills what the PID files there name."""
    return f"{workdir}/delayline.pid", f"{workdir}/delayline.json"

MTU_FRAME = 1514


@dataclass(frozen=True)
class TcFeatures:
    """What the image's tc can say (netem's own usage text tells)."""

    netem_seed: bool = False

    @classmethod
    def from_usage(cls, usage: str) -> TcFeatures:
        return cls(netem_seed="seed" in usage)


def _us(seconds: float) -> str:
    return f"{round(seconds * 1e6)}us"


def _pct(value: float) -> str:
    return f"{value:g}%"


def _shell(*argv) -> str:
    return shlex.join(str(arg) for arg in argv)


# -- what each engine can honour -------------------------------------------------------

def unsupported(engine: str, imp: Impairment, tc: TcFeatures = TcFeatures()) -> list[str]:
    """The options ``engine`` cannot honour for ``imp``, each with why (empty: all fine)."""
    refused = []
    if engine == "netem":
        if imp.seed is not None and not tc.netem_seed:
            refused.append("--seed (this image's tc predates netem's seed: iproute2 6.5)")
        return refused
    if imp.latency_correlation:
        refused.append("--latency-correlation")
    if imp.distribution in ("pareto", "paretonormal"):
        refused.append(f"--distribution {imp.distribution} (uniform and normal only)")
    if imp.loss_correlation:
        refused.append("--loss-correlation (its loss is iptables' independent random drop)")
    if imp.gemodel:
        refused.append("--loss-gemodel")
    if imp.duplicate:
        refused.append("--duplicate")
    if imp.corrupt:
        refused.append("--corrupt")
    if imp.reorder_correlation:
        refused.append("--reorder-correlation")
    if imp.seed is not None and imp.loss:
        refused.append("--seed with --loss (iptables' statistic match cannot be seeded)")
    return refused


def check_supported(engine: str, imp: Impairment, tc: TcFeatures = TcFeatures(),
                    why: str = "") -> None:
    refused = unsupported(engine, imp, tc)
    if refused:
        raise BadInput(f"the {engine} engine cannot apply {', '.join(refused)}{why}")


# -- netem ------------------------------------------------------------------------------

def netem_arguments(imp: Impairment) -> list[str]:
    args = ["limit", str(imp.limit)]
    if imp.latency:
        args += ["delay", _us(imp.latency)]
        if imp.jitter:
            args.append(_us(imp.jitter))
            if imp.latency_correlation:
                args.append(_pct(imp.latency_correlation))
            # Uniform is netem's default and has no table file: name only the others.
            if imp.distribution not in (None, "uniform"):
                args += ["distribution", imp.distribution]
    if imp.loss:
        args += ["loss", "random", _pct(imp.loss)]
        if imp.loss_correlation:
            args.append(_pct(imp.loss_correlation))
    if imp.gemodel:
        ge = imp.gemodel
        args += ["loss", "gemodel", _pct(ge.p), _pct(ge.r), _pct(ge.one_minus_h),
                 _pct(ge.one_minus_k)]
    if imp.duplicate:
        args += ["duplicate", _pct(imp.duplicate)]
    if imp.corrupt:
        args += ["corrupt", _pct(imp.corrupt)]
    if imp.reorder:
        args += ["reorder", _pct(imp.reorder)]
        if imp.reorder_correlation:
            args.append(_pct(imp.reorder_correlation))
    if imp.rate:
        args += ["rate", f"{imp.rate}bit"]
    if imp.seed is not None:
        args += ["seed", str(imp.seed)]
    return args


def netem_apply(imp: Impairment, device: str = DEVICE) -> list[str]:
    # 'replace' installs or changes in one step: re-applying never says "File exists".
    return [_shell("tc", "qdisc", "replace", "dev", device, "root", "handle", HANDLE,
                   "netem", *netem_arguments(imp))]


def clear_qdisc(device: str = DEVICE) -> str:
    """Delete the root qdisc only where it is the kit's (Docker's default is left)."""
    return (f"if tc qdisc show dev {device} | grep -q ' {HANDLE} root'; "
            f"then tc qdisc del dev {device} root handle {HANDLE}; fi")


# -- userspace --------------------------------------------------------------------------

def tbf_burst(rate_bits: int) -> int:
    """Bytes: at least a few frames, and at least what the rate sends in 10 ms (the
    token bucket must outlast a timer tick or it cannot reach its rate)."""
    return max(4 * MTU_FRAME, rate_bits // 8 // 100)


def userspace_apply(imp: Impairment, device: str = DEVICE, workdir: str = WORKDIR) -> list[str]:
    commands = []
    pidfile, stats = delay_line_files(workdir)
    delayed = bool(imp.latency)
    if delayed:
        line = ["netkit-delayline", "--queue", QUEUE, "--latency-us", round(imp.latency * 1e6)]
        if imp.jitter:
            line += ["--jitter-us", round(imp.jitter * 1e6),
                     "--distribution", imp.distribution or "uniform"]
        if imp.reorder:
            line += ["--reorder", f"{imp.reorder:g}"]
        line += ["--limit", imp.limit]
        if imp.seed is not None:
            line += ["--seed", imp.seed]
        line += ["--pidfile", pidfile, "--stats", stats]
        # It detaches once its queue is bound, so the rule below never finds it missing.
        commands.append(_shell(*line))
    if imp.loss or delayed:
        commands.append(_shell("iptables", "-w", "-t", "mangle", "-N", CHAIN))
        if imp.loss:
            commands.append(_shell("iptables", "-w", "-t", "mangle", "-A", CHAIN, "-m",
                                   "statistic", "--mode", "random", "--probability",
                                   f"{imp.loss / 100:.6g}", "-j", "DROP"))
        if delayed:
            commands.append(_shell("iptables", "-w", "-t", "mangle", "-A", CHAIN, "-j",
                                   "NFQUEUE", "--queue-num", QUEUE))
        commands.append(_shell("iptables", "-w", "-t", "mangle", "-A", "POSTROUTING", "-o",
                               device, "-j", CHAIN))
    if imp.rate:
        commands.append(_shell("tc", "qdisc", "replace", "dev", device, "root", "handle", HANDLE,
                               "tbf", "rate", f"{imp.rate}bit", "burst", tbf_burst(imp.rate),
                               "limit", imp.limit * MTU_FRAME))
    return commands


def userspace_clear(device: str = DEVICE, workdir: str | None = WORKDIR) -> list[str]:
    """Remove the rule first (packets flow again), then the delay line (it lets what it
    holds go), then the chain and the kit's qdisc. Each step tolerates its absence.
    ``workdir`` None: the delay line is left to whoever kills its run's PID files."""
    rule = f"-t mangle -D POSTROUTING -o {device} -j {CHAIN}"
    commands = [f"while iptables -w {rule} 2>/dev/null; do :; done"]
    if workdir is not None:
        pidfile = shlex.quote(delay_line_files(workdir)[0])
        commands.append(
            f"if [ -f {pidfile} ]; then pid=$(cat {pidfile}); kill $pid 2>/dev/null; "
            f"while kill -0 $pid 2>/dev/null; do sleep 0.01; done; rm -f {pidfile}; fi")
    return commands + [
        f"if iptables -w -t mangle -S {CHAIN} >/dev/null 2>&1; then "
        f"iptables -w -t mangle -F {CHAIN} && iptables -w -t mangle -X {CHAIN}; fi",
        clear_qdisc(device),
    ]


def apply_commands(engine: str, imp: Impairment, device: str = DEVICE,
                   workdir: str = WORKDIR) -> list[str]:
    """Everything to run on one sender: first clear what the kit left, then apply."""
    return clear_commands(device, workdir) + (netem_apply(imp, device) if engine == "netem"
                                              else userspace_apply(imp, device, workdir))


def clear_commands(device: str = DEVICE, workdir: str | None = WORKDIR) -> list[str]:
    """Clear what either engine installed: re-applying may switch engines."""
    return userspace_clear(device, workdir)
