"""The options of a run, declared once: name, default, help, whether it repeats, and how
it is validated. From this table come 'invoke run's options and --help (kit.cli.tasks),
the keyword arguments of the pytest plugin's ``netkit.run()``, the experiment file's
``parameters:`` keys (kit.core.parameters.PARSERS), and the request parser's checks
(kit.cli.request). The link's options have their own table (kit.impair.options).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.core.command import command
from kit.core.defaults import DEFAULT_BASE_IMAGE
from kit.core.results import writable_directory, writable_file
from kit.core.units import choice, duration, flag, image_name, labs_at_once, whole_number

SIGPIPE_CHOICES = ("ignore", "default", "handler")

# What an option is about; netkit.run() takes the first four, a command all of them.
WHAT = "what"               # which scenario and variant
PROGRAM = "program"         # your own programs instead of a scenario
PARAMETER = "parameter"     # a knob of the run (RunParameters; an experiment's parameters:)
IMAGE = "image"             # the lab's image
COMMAND = "command"         # how a command runs its runs: where results go, how many at once
WHERE = "where"             # the testbed


def _text(flag_name: str, value: Any) -> Any:
    return value


@dataclass(frozen=True)
class RunOption:
    name: str                        # keyword; --name-with-dashes on the command line
    group: str
    help: str
    default: Any = None
    repeatable: bool = False         # given once per value; a list
    parse: Callable[[str, Any], Any] = _text     # (the option's flag, the value) -> checked

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """The value, validated; BadInput names the option."""
        return self.parse(self.flag, value)


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("scenario", WHAT, f"scenario to run ('{command('scenarios')}' lists them)"),
    RunOption("variant", WHAT, "one variant only (default: every variant)"),
    RunOption("server_delay", PARAMETER, "the server's processing time before each reply "
              "(0.1s to 60s; 500ms or 0.5s; a bare number is seconds; the lesson uses 5; "
              "default 1)", "1", parse=lambda option, value: duration(option, value, 0.1, 60)),
    RunOption("sigpipe", PARAMETER, "the server's SIGPIPE disposition: ignore (the lesson's "
              "code), default (killed by the signal) or handler", "ignore",
              parse=lambda option, value: choice(option, value, SIGPIPE_CHOICES)),
    RunOption("ss_interval", PARAMETER, "time between socket samples on each host (1ms to "
              "1s; a bare number is seconds; default 0.04)", "0.04",
              parse=lambda option, value: duration(option, value, 0.001, 1.0)),
    RunOption("out", COMMAND, "directory for the results (default results/)", "results",
              parse=lambda option, value: writable_directory(option, Path(value))),
    RunOption("keep", COMMAND, "leave the lab up after the run, to look around (needs "
              "--variant)", False),
    RunOption("base_image", IMAGE, "base of the lab image (default debian:bookworm-slim; "
              "built here with debootstrap when no registry has it)", DEFAULT_BASE_IMAGE,
              parse=lambda option, value: image_name(option, value, DEFAULT_BASE_IMAGE)),
    RunOption("kernel_trace", PARAMETER, "record the kernel's TCP tracepoints (default on; "
              "--no-kernel-trace turns it off; where tracefs cannot be reached the run goes "
              "on without it and run.json says why)", True, parse=flag),
    RunOption("server_command", PROGRAM, "your own server instead of the kit's scenario: a "
              "command line, {port} for the port (e.g. 'socat TCP-LISTEN:{port} SYSTEM:cat')"),
    RunOption("client_command", PROGRAM, "your own client: {server} and {port} for where to "
              "connect (e.g. 'socat - TCP:{server}:{port}')"),
    RunOption("server_image", PROGRAM, "your server as an image, run unchanged in the "
              "server's network namespace (its own entrypoint, or --server-command as its "
              "command); pulled if the engine lacks it. Alone it is judged as a "
              "long-running server: still serving when the client is done, then stopped",
              parse=lambda option, value: image_name(option, value, "nginx:1.27")),
    RunOption("client_image", PROGRAM, "your client as an image, likewise (with "
              "--client-command as its command: {server} and {port} filled in)",
              parse=lambda option, value: image_name(option, value, "curlimages/curl")),
    RunOption("port", PROGRAM, "with your own programs: the port your server listens on, "
              "e.g. 80 for an image that listens where it likes (default: the kit's, 13211, "
              "which {port} gives your commands); a run on a port you give gets a lab of "
              "its own", parse=lambda option, value: whole_number(option, value, 1, 65535)),
    RunOption("client_input", PROGRAM, "a line typed into your client (repeat it: 0.5 s "
              "apart; then the client's input ends)", repeatable=True),
    RunOption("mount", PROGRAM, "a directory with your own programs, mounted read-only at "
              "/opt/netkit/user"),
    RunOption("expect_exit", PROGRAM, "with your own programs: ROLE=STATUS, the exit a "
              "program must have (repeat it). Without --expect-... your programs are judged "
              "on: a connection established and not refused, both exiting 0 by themselves "
              "in time", repeatable=True),
    RunOption("expect_packet", PROGRAM, "with your own programs: 'ROLE FLAG' (that host "
              "sends one) or 'ROLE no FLAG' (it never does), e.g. 'client RST' (repeat it)",
              repeatable=True),
    RunOption("junit", COMMAND, "also write a JUnit XML report there: a test suite per run, "
              "a test case per check (for CI systems' test views)",
              parse=lambda option, value: writable_file(option, Path(value))),
    RunOption("fresh_labs", COMMAND, "a new lab for every run (default: several runs share "
              "labs, each reset between runs; run.json's environment.lab says which)", False),
    RunOption("warm", COMMAND, "keep the lab up, reset, for the next command's run to take "
              "(it skips the lab's start and removal): a reaper process removes it once no "
              "command has used it for NETKIT_WARM_IDLE seconds (default 60), also after "
              "the command was killed", False),
    RunOption("parallel", COMMAND, "runs at a time, for several variants or --scenario all "
              "(default 1): run as a study in <out>/experiments/, which the same command "
              "resumes", "1", parse=lambda option, value: labs_at_once(value, option)),
    RunOption("testbed", WHERE, "a testbed file: run between two machines over SSH instead "
              "of two containers (docs/testbeds.md)"),
    RunOption("kernel", WHERE, "run on one of Debian's own kernels instead of this machine's: "
              "5.10, 6.1 or 6.12, booted under qemu in a container, its two machines "
              "network namespaces of that kernel (docs/testbeds.md); give it again for "
              "more kernels (host: a Docker lab on this machine's): the runs on each in "
              "turn, in <out>/kernel-<kernel>/, and a claims x kernels table",
              repeatable=True),
    RunOption("accept_new_host_keys", WHERE, "with --testbed: trust a machine's host key "
              "the first time it is seen and record it in the kit's own known_hosts "
              "(default: refuse unknown keys; a changed key is always refused)", False),
)
BY_NAME: Mapping[str, RunOption] = {option.name: option for option in RUN_OPTIONS}
# What a test's netkit.run() takes (a command's own options stay on the command line).
IN_A_TEST = tuple(option for option in RUN_OPTIONS
                  if option.group in (WHAT, PROGRAM, PARAMETER, IMAGE))


def defaults(options: tuple[RunOption, ...] = RUN_OPTIONS) -> dict[str, Any]:
    return {option.name: option.default for option in options}


def help_texts(options: tuple[RunOption, ...] = RUN_OPTIONS) -> dict[str, str]:
    return {option.name: option.help for option in options}


def of_group(values: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The values of ``group``'s options among ``values``."""
    return {name: value for name, value in values.items()
            if name in BY_NAME and BY_NAME[name].group == group}
