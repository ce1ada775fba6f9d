"""The kernels a run can ask for (--kernel, an experiment's ``kernel`` axis): Debian's
own, each from the suite that ships it, booted under qemu (kit.testbeds.kernel), or
``host``: this machine's own, in a Docker lab."""

from __future__ import annotations

from kit.core.errors import BadInput

KERNELS = {"5.10": "bullseye", "6.1": "bookworm", "6.12": "trixie"}
HOST = "host"


def check_kernel(kernel: str, option: str = "--kernel", host: bool = False) -> str:
    """``kernel``, one of KERNELS (or ``host``, where allowed); BadInput names it."""
    if kernel in KERNELS or (host and kernel == HOST):
        return kernel
    choices = ", ".join([*KERNELS, *([HOST] if host else [])])
    raise BadInput(f"{option} {kernel}: choose one of {choices} (Debian "
                   f"{', '.join(KERNELS.values())}'s own kernels"
                   + (f"; {HOST}: this machine's)" if host else ")"))
