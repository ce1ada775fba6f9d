"""A remote Docker engine (DOCKER_HOST=ssh://) on a stand-in Docker host
(tests/integration/dockerhosts.py) whose sshd allows few sessions per connection: the
kit builds its image there, runs there, copies your programs in, checks host keys as on
the SSH testbed, and leaves nothing on either engine. What is on the inner engine is
asked of that engine itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.testbeds.docker import labels
from tests.integration.conftest import invoke
from tests.integration.dockerhosts import DockerHost, docker_host

SESSIONS = 3      # sshd's MaxSessions: the kit must spread its sessions over connections


@pytest.fixture(scope="module")
def remote(lab_image, tmp_path_factory):
    with docker_host(lab_image, tmp_path_factory.mktemp("dockerhost"), max_sessions=SESSIONS,
                     preload=(lab_image.base,)) as host:
        yield host


def kit_things(host: DockerHost) -> list[str]:
    """Containers, networks and volumes on the inner engine (the kit's or a lab's)."""
    found = []
    for kind, listing in (("container", "container ls -a --format {{.Names}}"),
                          ("network", "network ls --format {{.Name}}"),
                          ("volume", "volume ls --format {{.Name}}")):
        found += [f"{kind} {name}" for name in host.inner(*listing.split()).split()
                  if name not in ("bridge", "host", "none")]
    return found


def only_run(out: Path) -> dict:
    (record,) = [json.loads(p.read_text()) for p in out.glob("*/run.json")]
    return record


def test_a_run_on_a_remote_engine_passes_and_leaves_nothing(remote, tmp_path, compose):
    result = invoke("run", "--scenario", "close", "--variant", "graceful", "--out",
                    str(tmp_path / "out"), env={**remote.environment(), "TMPDIR": str(tmp_path)},
                    timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    record = only_run(tmp_path / "out")
    assert record["verdict"] == "pass"
    environment = record["environment"]
    assert environment["docker_endpoint"] == remote.url
    # Built on that engine, from the base image it was given.
    assert environment["image_id"] in remote.inner("image", "ls", "--no-trunc", "-q")
    # The lab ran there: the inner engine's own event log has its containers.
    events = remote.inner("events", "--since", "30m", "--until", "0s", "--filter",
                          "type=container", "--filter", "event=create", "--filter",
                          f"label={labels.ROLE}=client", "--format", "{{.Actor.Attributes.name}}")
    assert events.split(), "the inner engine saw no lab"
    assert kit_things(remote) == []
    # More sessions than sshd allows on one connection were spread over several.
    logins = remote.container.logs().decode().count("Accepted publickey for root")
    assert logins >= 2, f"{logins} SSH connection(s) for a run at MaxSessions {SESSIONS}"
    # The tunnel's socket directory is gone with the command.
    assert not list(tmp_path.glob("netkit-engine-*"))


def test_your_programs_are_copied_to_a_remote_lab(remote, tmp_path):
    programs = tmp_path / "programs"
    programs.mkdir()
    (programs / "greet.py").write_text(
        "import socket, sys\n"
        "with socket.create_server(('', int(sys.argv[1]))) as s:\n"
        "    c, _ = s.accept()\n"
        "    c.sendall(b'copied, not mounted\\n'); c.close()\n")
    result = invoke("run", "--server-command", "python3 /opt/netkit/user/greet.py {port}",
                    "--client-command", "socat - TCP:{server}:{port}", "--mount", str(programs),
                    "--expect-exit", "client=0", "--expect-exit", "server=0",
                    "--out", str(tmp_path / "out"), env=remote.environment(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (directory,) = (tmp_path / "out").glob("*/run.json")
    assert "copied, not mounted" in (directory.parent / "logs" / "client.log").read_text()
    assert kit_things(remote) == []


def test_an_unknown_engine_host_key_is_refused_then_accepted_when_asked(remote, tmp_path):
    (remote.home / ".ssh" / "known_hosts").write_text("")
    try:
        refused = invoke("run", "--scenario", "close", "--variant", "graceful", "--out",
                         str(tmp_path / "refused"), env=remote.environment())
        assert refused.returncode == 2
        assert "is not known (it offers ssh-ed25519 SHA256:" in refused.stderr
        assert not (tmp_path / "refused").exists() or not list((tmp_path / "refused").iterdir())
        cleaned = invoke("clean", "--accept-new-host-keys", env=remote.environment())
        assert cleaned.returncode == 0, cleaned.stderr[-2000:]
        recorded = (remote.home / "kit-known-hosts").read_text()
        assert recorded.split()[:3] == remote.host_key_line.split()[:3]
        again = invoke("clean", env=remote.environment())
        assert again.returncode == 0, again.stderr[-2000:]
    finally:
        (remote.home / ".ssh" / "known_hosts").write_text(remote.host_key_line + "\n")
        (remote.home / "kit-known-hosts").unlink(missing_ok=True)


def test_a_changed_engine_host_key_is_refused(remote, tmp_path):
    known = remote.home / ".ssh" / "known_hosts"
    address, kind, _ = remote.host_key_line.split()
    other = "AAAAC3NzaC1lZDI1NTE5AAAAIBmF7Tg4dSEqHSwAh8P6FHaR3PUOD8pI6YbvzGyK0rjX"
    known.write_text(f"{address} {kind} {other}\n")
    try:
        result = invoke("clean", env=remote.environment())
        assert result.returncode == 2
        assert "has CHANGED" in result.stderr and str(known) in result.stderr
    finally:
        known.write_text(remote.host_key_line + "\n")


def test_a_parallel_study_on_a_remote_engine_leaves_no_tunnel_behind(remote, tmp_path):
    # Its cells are processes of their own (each with its own tunnel) that end with
    # os._exit, where no atexit handler runs.
    (tmp_path / "small.yaml").write_text("name: small\nruns:\n  - scenario: close\n"
                                         "repetitions: 2\nparameters:\n  server_delay: 0.3s\n")
    result = invoke("experiment", str(tmp_path / "small.yaml"), "--parallel", "2", "--out",
                    str(tmp_path / "out"), env={**remote.environment(), "TMPDIR": str(tmp_path)},
                    timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("experiments/small/runs/*/run.json"))) == 4
    assert not list(tmp_path.glob("netkit-engine-*"))
    assert kit_things(remote) == []
