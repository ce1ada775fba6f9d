"""A sweep of bad input, class by class: every row is one line on stderr and exit 2, no
traceback, and nothing written. A new option of a task must join the table (or say
below why it cannot be given a bad value)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

import tasks
from kit.impair.options import LINK_OPTIONS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Real files of every troublesome kind."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "empty.yaml").write_text("")
    (root / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01not text")
    (root / "list.yaml").write_text("- a\n- b\n")
    (root / "runs-not-list.yaml").write_text("runs: close\n")
    (root / "run-not-mapping.yaml").write_text("runs:\n  - 5\n")
    (root / "broken.yaml").write_text("runs: [\n")
    (root / "a-file").write_text("x")
    (root / "a-dir.yaml").mkdir()
    machine = "ssh: root@192.0.2.1\n  address: 10.9.0.1\n  interface: eth1"
    (root / "testbed-no-server.yaml").write_text(f"client:\n  {machine}\n")
    (root / "testbed-name.yaml").write_text(
        f"client:\n  {machine}\nserver:\n  {machine.replace('10.9.0.1', 'srv.lab')}\n")
    (root / "testbed-same.yaml").write_text(f"client:\n  {machine}\nserver:\n  {machine}\n")
    (root / "testbed-typo.yaml").write_text(f"client:\n  {machine}\n  sudoo: true\n")
    (root / "testbed-ok.yaml").write_text(
        f"client:\n  {machine}\nserver:\n  {machine.replace('10.9.0.1', '10.9.0.2')}\n")
    for name, content in {"bad-json": b'{"scenario": 5', "list-json": b"[1, 2]",
                          "latin1": b"\xff\xfe"}.items():
        (root / name).mkdir()
        (root / name / "run.json").write_bytes(content)
    # A run record that says how it was asked for ('invoke rerun'), and one that garbles it.
    # And one that ran between machines whose testbed file is gone.
    for name, request, where in (
            ("asked", '{"link": {}, "programs": null}', ""),
            ("asked-badly", '{"link": {}, "programs": {"server": 5}}', ""),
            ("ssh-gone", '{"link": {}, "programs": null}', ', "testbed": "ssh", "environment": '
                                                        '{"testbed_file": "/nowhere/machines.yaml"}')):
        (root / name).mkdir()
        (root / name / "run.json").write_text(
            '{"scenario": "close", "variant": "graceful", "schema": 3, "parameters": '
            f'{{"server_delay": 1.0}}, "request": {request}{where}}}')
    return root


# (task and its arguments, what the one line must say); {f} is the files' directory.
SWEEP = [
    # paths
    ("run --scenario close --out {f}/a-file", "--out {f}/a-file: results cannot be written"),
    ("run --scenario close --out /proc/netkit", "--out /proc/netkit: results cannot be written"),
    ("run --scenario close --out {f}/a-file/below", "(a file is in the way)"),
    ("experiment {f}/missing.yaml", "cannot read the experiment file"),
    ("experiment {f}/a-dir.yaml", "Is a directory"),
    ("experiment /proc/self/mem", "cannot read the experiment file /proc/self/mem"),
    ("experiment experiments/lesson.yaml --out /proc/x", "--out /proc/x: results cannot"),
    ("run --server-command true --client-command true --mount {f}/a-file",
     "--mount must be a directory"),
    ("run --scenario close --junit {f}/a-dir.yaml", "--junit {f}/a-dir.yaml: it is a directory"),
    ("run --scenario close --junit /proc/netkit.xml", "--junit /proc/netkit.xml: results cannot"),
    ("experiment experiments/lesson.yaml --junit {f}/a-file/x.xml", "(it is a file)"),
    ("run --scenario close --testbed {f}/missing.yaml", "cannot read the testbed file"),
    ("rerun {f}/a-file", "is neither a run directory"),
    ("rerun tests/data/catalog/close-graceful", "does not record how the run was asked for"),
    ("rerun {f}/bad-json", "is not a run record the kit can read"),
    ("rerun {f}/asked --out {f}/a-file", "--out {f}/a-file: results cannot be written"),
    ("rerun {f}/asked --junit {f}/a-dir.yaml", "--junit {f}/a-dir.yaml: it is a directory"),
    ("rerun {f}/asked-badly", "its request cannot be read"),
    ("rerun {f}/asked --testbed {f}/testbed-typo.yaml", "client.sudoo: unknown field"),
    ("rerun {f}/asked --accept-new-host-keys", "goes with --testbed FILE"),
    ("rerun {f}/ssh-gone", "ran between the machines of /nowhere/machines.yaml, which is not"),
    ("diff {f}/missing tests/data/catalog/close-graceful", "is neither a run directory"),
    ("diff tests/data/catalog/close-graceful {f}/latin1", "is not a run record the kit can"),
    ("report {f}/missing", "is not a directory"),
    ("report {f}/a-file", "is not a directory"),
    ("logs --directory {f}/a-file", "is not a run directory"),
    # file contents
    ("experiment {f}/empty.yaml", "needs 'runs'"),
    ("experiment {f}/binary.yaml", "is not a text file in UTF-8"),
    ("experiment {f}/broken.yaml", "not valid YAML"),
    ("experiment {f}/list.yaml", "must be a mapping"),
    ("experiment {f}/runs-not-list.yaml", "runs"),
    ("experiment {f}/run-not-mapping.yaml", "runs[0]: must be a mapping"),
    ("run --scenario close --testbed {f}/broken.yaml", "broken.yaml:2: not valid YAML"),
    ("run --scenario close --testbed {f}/testbed-no-server.yaml",
     "testbed-no-server.yaml:1: server: missing"),
    ("run --scenario close --testbed {f}/testbed-name.yaml",
     "testbed-name.yaml:7: server.address: 'srv.lab' is not an IP address"),
    ("run --scenario close --testbed {f}/testbed-same.yaml", "server.address: the same as"),
    ("run --scenario close --testbed {f}/testbed-typo.yaml", "client.sudoo: unknown field"),
    ("report {f}/bad-json", "is not a run record the kit can read"),
    ("report {f}/list-json", "a run record is a JSON object, not a list"),
    ("report {f}/latin1", "is not a run record the kit can read"),
    # values
    ("run --scenario nope", "unknown scenario 'nope'"),
    ("run --scenario close --variant gentle", "has no variant 'gentle'"),
    ("run --scenario close --server-delay fast", "--server-delay must be a time"),
    ("run --scenario close --ss-interval 5", "--ss-interval must be between"),
    ("run --scenario close --sigpipe catch", "--sigpipe must be one of"),
    ("run --scenario close --keep", "--keep keeps one lab up"),
    ("run --scenario close --kernel 4.9", "--kernel 4.9: choose one of 5.10, 6.1, 6.12"),
    ("run --scenario close --kernel 6.1 --testbed {f}/testbed-ok.yaml", "give one of them"),
    ("run --scenario close --kernel 6.1 --variant abrupt --keep", "--keep is for Docker"),
    ("run --scenario close --kernel 6.1 --kernel 5.9", "--kernel 5.9: choose one of"),
    ("run --scenario close --variant abrupt --kernel 6.1 --kernel host --keep",
     "--keep keeps one lab up: give one --kernel"),
    ("run --scenario all --kernel 6.1 --kernel 6.12 --parallel 2",
     "several --kernel: a kernel's VM holds one run at a time"),
    ("run --scenario nope --kernel 6.1 --kernel host", "unknown scenario 'nope'"),
    ("run --scenario all --parallel many", "--parallel must be a whole number of labs"),
    ("run --scenario close --variant graceful --parallel 2", "leave out --variant"),
    ("run --scenario all --parallel 65", "--parallel must be between 1 and 64"),
    ("run --scenario close --latency 100", "a bare number is seconds"),
    ("run --scenario close --jitter 10ms", "--jitter needs --latency"),
    ("run --scenario close --loss 2", "--loss must be a percentage"),
    ("run --scenario close --loss 1% --loss-correlation 2", "--loss-correlation must be"),
    ("run --scenario close --latency 10ms --jitter 1ms --latency-correlation 200%",
     "--latency-correlation must be between 0% and 100%"),
    ("run --scenario close --latency 10ms --jitter 1ms --distribution gauss",
     "--distribution must be one of"),
    ("run --scenario close --loss-gemodel 1%,2%,3%,4%,5%", "--loss-gemodel must be P,R"),
    ("run --scenario close --duplicate x", "--duplicate must be a percentage"),
    ("run --scenario close --corrupt 101%", "--corrupt must be between"),
    ("run --scenario close --reorder 10%", "--reorder needs --latency"),
    ("run --scenario close --latency 10ms --reorder 5% --reorder-correlation 1",
     "--reorder-correlation must be a percentage"),
    ("run --scenario close --rate 10mbps", "--rate must be a rate in bits per second"),
    ("run --scenario close --limit 0", "--limit must be between"),
    ("run --scenario close --seed -1", "--seed must be between 0 and"),
    ("run --scenario close --seed x", "--seed must be a whole number"),
    ("run --scenario close --direction up", "--direction must be one of"),
    ("run --scenario close --impair-engine fast", "--impair-engine must be one of"),
    ("run --server-command true", "give your client too: --client-command or --client-image"),
    ("run --client-command true", "give your server too: --server-command or --server-image"),
    ("run --scenario close --client-input x", "--client-input, --mount, --port and --expect-"),
    ("run --scenario close --port 80", "--client-input, --mount, --port and --expect-"),
    ("run --server-image 'a b' --client-command true", "--server-image must name an image"),
    ("run --server-image s --client-image 'a b'", "--client-image must name an image"),
    ("run --server-image s --client-command true --port http", "--port must be a whole number"),
    ("run --server-image s --client-command true --port 0", "--port must be between 1 and"),
    ("run --scenario close --server-image s --client-command true",
     "replace the scenario: leave out --scenario close"),
    ("run --server-image s --client-command true --kernel 6.1",
     "run in a Docker lab: leave out --kernel"),
    ("run --server-command true --client-command true --expect-exit server",
     "--expect-exit takes ROLE=STATUS"),
    ("run --server-command true --client-command true --expect-packet 'client rst'",
     "--expect-packet takes 'ROLE FLAG'"),
    ("run --scenario close --base-image ''", "--base-image must name an image"),
    ("run --scenario close --base-image 'a b'", "--base-image must name an image"),
    ("experiment experiments/lesson.yaml --parallel many", "--parallel must be a whole number"),
    ("experiment experiments/lesson.yaml --cluster tcp://host", "--cluster 'tcp://host': give"),
    ("experiment experiments/lesson.yaml --cluster local:0", "takes 1 to 64 workers"),
    ("experiment experiments/lesson.yaml --cluster local:2 --parallel 2",
     "leave out --parallel and --fresh-labs"),
    ("experiment experiments/lesson.yaml --cluster tcp://127.0.0.1:1",
     "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
    ("worker --scheduler local:2", "--scheduler takes the scheduler's tcp://host:port"),
    ("worker --scheduler tcp://127.0.0.1:1 --labs none", "--labs must be a whole number"),
    ("worker --scheduler tcp://127.0.0.1:1 --base-image 'a b'", "--base-image must name an image"),
    ("run --scenario close --accept-new-host-keys", "goes with --testbed FILE"),
    ("clean --accept-new-host-keys", "goes with --testbed FILE"),
    ("clean --testbed {f}/testbed-typo.yaml", "client.sudoo: unknown field"),
    ("bench --testbed {f}/testbed-typo.yaml", "client.sudoo: unknown field"),
    ("run --scenario close --variant graceful --testbed {f}/testbed-ok.yaml --keep",
     "--keep is for Docker labs"),
    ("run --scenario all --testbed {f}/testbed-ok.yaml --parallel 2",
     "leave out --parallel"),
    ("experiment experiments/lesson.yaml --testbed {f}/testbed-ok.yaml --parallel 2",
     "hold one run at a time: leave out --parallel"),
    ("experiment experiments/lesson.yaml --testbed {f}/testbed-typo.yaml",
     "client.sudoo: unknown field"),
    ("experiment experiments/lesson.yaml --accept-new-host-keys", "goes with --testbed FILE"),
    ("run --scenario close --variant graceful --warm --keep", "--warm keeps the lab for the "
     "next run, --keep for you to explore: choose one"),
    ("run --scenario close --warm --fresh-labs", "--warm and --fresh-labs contradict"),
    ("run --scenario all --warm --parallel 2", "leave out one of them"),
    ("run --server-image s --client-command true --port 8080 --warm",
     "leave out --warm (or --port"),
    ("run --scenario close --warm --testbed {f}/testbed-ok.yaml",
     "--warm keeps Docker labs warm: leave it out with --testbed"),
    ("run --scenario close --warm --kernel 6.1",
     "--warm keeps Docker labs warm: leave it out with --kernel"),
    ("impair --clear --latency 5ms", "--clear removes the shaping"),
    ("down --run nope", "no lab with run id 'nope'"),
    ("shell router", "shell takes 'client' or 'server'"),
]
# Options no value can make bad: switches, and names looked up as they are.
NOTHING_TO_SWEEP = {("run", "kernel_trace"), ("run", "fresh_labs"), ("experiment", "fresh_labs"),
                    ("build", "rebuild"), ("clean", "images"),
                    ("down", "all"), ("impair", "run"), ("shell", "run"), ("logs", "out"),
                    ("test", "unit"), ("test", "k"), ("build", "base_image"),
                    ("up", "base_image"), ("experiment", "base_image"),
                    ("bench", "runs"), ("bench", "cold"),
                    ("bench", "evidence"), ("bench", "link"), ("bench", "vm"),
                    ("bench", "parallel"), ("bench", "cpu"), ("bench", "cluster"),
                    ("bench", "pytest"), ("bench", "kernels"), ("bench", "images")}


def invoke(line: str, files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(f"{sys.executable} -m invoke {line.format(f=files)}", shell=True,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("line, message", SWEEP, ids=[line for line, _ in SWEEP])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(files, tmp_path, line, message):
    before = sorted(files.rglob("*"))
    result = invoke(line, files)
    said = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(said) == 1 and said[0].startswith("error: "), result.stderr
    assert message.format(f=files) in said[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert sorted(files.rglob("*")) == before


def test_every_option_of_every_task_is_swept():
    swept = {(line.split()[0], word[2:].split("=")[0].replace("-", "_"))
             for line, _ in SWEEP for word in line.split() if word.startswith("--")}
    # A task's positional arguments are given in each of its rows.
    swept |= {(name, positional) for name, task in tasks.namespace.tasks.items()
              for positional in task.positional
              if any(line.split()[0] == name for line, _ in SWEEP)}
    # The link options are one table, parsed alike for run and impair.
    swept |= {("impair", option.name) for option in LINK_OPTIONS if ("run", option.name) in swept}
    for task in tasks.namespace.tasks.values():
        # get_arguments() pops its help texts: ask a copy.
        for argument in copy.deepcopy(task).get_arguments():
            option = (task.name, argument.name)
            assert option in swept or option in NOTHING_TO_SWEEP, \
                f"invoke {task.name} --{argument.name.replace('_', '-')} has no bad-input row"
