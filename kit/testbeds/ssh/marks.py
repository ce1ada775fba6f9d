"""What a run leaves on a machine while it runs, and how it is found again: a directory
/tmp/netkit-<run id> holding the file netkit-run, the PID of every program the run
started (pids/, and the observers' in run/), and a tracefs instance netkit-<run id>."""

from __future__ import annotations

import shlex

from kit.impair.engines import CHAIN, HANDLE, clear_commands
from kit.observe.kernel import INSTANCE_PREFIX, TRACEFS, mount_script

RUN_DIR_PREFIX = "/tmp/netkit-"
MARK = "netkit-run"
# Kills every program of the run in $dir (SIGKILL: the run is over), then removes it;
# only a directory that carries the mark is touched.
_KILL_AND_REMOVE = ('( [ -f "$dir/' + MARK + '" ] || exit 0; '
                    'for f in "$dir"/pids/*.pid "$dir"/run/*.pid; do '
                    '[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done; rm -rf "$dir" )')


def remove_run_script(root: str) -> str:
    return f"dir={shlex.quote(root)}; {_KILL_AND_REMOVE}"


def leftovers_script(remove: bool, interface: str) -> str:
    """Lists (and with ``remove``, removes) every run directory and tracefs instance of
    the kit on the machine, and the kit's shaping on ``interface``: what killed runs left.
    The shaping goes first, so that no packet waits for a delay line about to be killed."""
    act_dir = f"{_KILL_AND_REMOVE}; " if remove else ""
    act_instance = 'rmdir "$d"; ' if remove else ""
    return (f"{shaping_leftovers(interface, remove)}; "
            f'for dir in {RUN_DIR_PREFIX}*; do [ -f "$dir/{MARK}" ] || continue; '
            f'echo "$dir"; {act_dir}done; '
            f"{{ {mount_script()}; }} 2>/dev/null; "
            f'for d in {TRACEFS}/instances/{INSTANCE_PREFIX}*; do [ -d "$d" ] || continue; '
            f'echo "$d"; {act_instance}done; true')


def shaping_leftovers(interface: str, remove: bool) -> str:
    """Names (and with ``remove``, clears) what the kit's shaping left on ``interface``:
    its qdisc (handle 4e6b:) and its iptables chain."""
    quoted = shlex.quote(interface)
    listing = (f"tc qdisc show dev {quoted} 2>/dev/null | grep -q ' {HANDLE} ' && "
               f"echo qdisc-{HANDLE.rstrip(':')}-on-{quoted}; "
               f"iptables -w -t mangle -S {CHAIN} >/dev/null 2>&1 && echo iptables-chain-{CHAIN}")
    return listing + ("; " + "; ".join(clear_commands(interface, None)) if remove else "") \
        + "; true"
