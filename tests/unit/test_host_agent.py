"""The kit's side of netkit-agent: requests, Docker's stream frames, replies, a lost agent.

tests/data/agent-replies.bin is what a real netkit-agent exec sent back (Docker's
multiplexed stream) for five commands: hostname; a command writing both streams and
exiting 3; one stopped by its 0.3 s limit; printf of words a shell would mangle; a
program that does not exist.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from kit.testbeds.docker.agent import AgentLost, HostAgent, StreamReader, parse_header, request

RECORDED = (Path(__file__).parent.parent / "data" / "agent-replies.bin").read_bytes()


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def replies(reader: StreamReader, count: int) -> list[tuple[int, bool, bytes, bytes]]:
    deadline = time.monotonic() + 5
    out = []
    for _ in range(count):
        status, timed_out, n_out, n_err = parse_header(reader.read_line(deadline))
        out.append((status, timed_out, reader.read(n_out, deadline), reader.read(n_err, deadline)))
    return out


@pytest.fixture
def pair():
    kit_end, agent_end = socket.socketpair()
    yield kit_end, agent_end
    kit_end.close()
    agent_end.close()


def test_a_request_is_nul_terminated_words_led_by_the_limit_and_the_count():
    assert request(["printf", "a b", "it's"], 2.5) == b"2500\x003\x00printf\x00a b\x00it's\x00"
    assert request(["true"], 0.0001).startswith(b"1\x00")   # never a zero limit
    with pytest.raises(ValueError, match="NUL"):
        request(["echo", "a\0b"], 1)


def test_the_recorded_replies_are_read_exactly(pair):
    kit_end, agent_end = pair
    agent_end.sendall(RECORDED)
    hostname, both, stopped, words, missing = replies(StreamReader(kit_end), 5)
    assert hostname[:2] == (0, False) and len(hostname[2].strip()) == 12 and hostname[3] == b""
    assert both == (3, False, b"out\n", b"err\n")
    assert stopped == (128 + 15, True, b"begun\n", b"")
    assert words == (0, False, b"a b|$HOME|it's|line\nbreak|", b"")
    assert missing[:3] == (127, False, b"")
    assert missing[3].startswith(b"netkit-agent: cannot run no-such-program")


def test_frames_cut_anywhere_are_joined(pair):
    kit_end, agent_end = pair

    def trickle():
        for i in range(len(RECORDED)):
            agent_end.sendall(RECORDED[i:i + 1])

    feeder = threading.Thread(target=trickle)
    feeder.start()
    assert [r[0] for r in replies(StreamReader(kit_end), 5)] == [0, 3, 143, 0, 127]
    feeder.join()


def test_the_agents_own_stderr_stays_out_of_the_replies(pair):
    kit_end, agent_end = pair
    agent_end.sendall(frame(2, b"netkit-agent: warning\n") + frame(1, b"0 0 3 0\nyes"))
    reader = StreamReader(kit_end)
    assert replies(reader, 1) == [(0, False, b"yes", b"")]
    assert bytes(reader.stderr) == b"netkit-agent: warning\n"


def test_an_agent_that_ends_mid_reply_is_lost_and_says_why(pair):
    kit_end, agent_end = pair
    agent_end.sendall(frame(2, b"netkit-agent: bad request (0 words)\n") + frame(1, b"0 0 9"))
    agent_end.close()
    with pytest.raises(AgentLost, match=r"netkit-agent ended: netkit-agent: bad request"):
        StreamReader(kit_end).read_line(time.monotonic() + 5)


def test_an_agent_that_does_not_answer_is_lost_at_the_deadline(pair):
    kit_end, _ = pair
    started = time.monotonic()
    with pytest.raises(AgentLost, match="did not answer in time"):
        StreamReader(kit_end).read_line(time.monotonic() + 0.2)
    assert time.monotonic() - started < 2


def test_a_reply_that_is_not_one_is_refused():
    with pytest.raises(AgentLost, match="not a reply"):
        parse_header(b"sh: 1: oops")


class StandInApi:
    """exec_create and exec_start as docker-py's, the exec's socket one end of a pair."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.created: list[list[str]] = []

    def exec_create(self, container: str, command: list[str], stdin: bool = False) -> dict:
        self.created.append(command)
        return {"Id": "exec-1"}

    def exec_start(self, exec_id: str, socket: bool = False):
        return self.sock


def test_the_agent_sends_the_request_and_returns_the_reply(pair):
    kit_end, agent_end = pair
    api = StandInApi(kit_end)
    agent = HostAgent(api, "container-1")
    assert api.created == [["netkit-agent"]]
    agent_end.sendall(frame(1, b"3 0 4 4\nout\nerr\n"))
    assert agent.try_acquire()
    reply = agent.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=5)
    agent.release()
    assert (reply.status, reply.timed_out, reply.stdout, reply.stderr) == (3, False, b"out\n",
                                                                           b"err\n")
    assert agent_end.recv(100) == request(["sh", "-c", "echo out; echo err >&2; exit 3"], 5)


def test_a_lost_agent_is_not_lent_again(pair):
    kit_end, agent_end = pair
    agent = HostAgent(StandInApi(kit_end), "container-1")
    agent_end.close()
    assert agent.try_acquire()
    with pytest.raises(AgentLost):
        agent.run(["true"], timeout=1)
    agent.release()
    assert agent.broken and not agent.try_acquire()


def test_a_busy_agent_is_not_waited_for_long(pair):
    kit_end, _ = pair
    agent = HostAgent(StandInApi(kit_end), "container-1")
    assert agent.try_acquire()
    started = time.monotonic()
    assert not agent.try_acquire()        # another thread's command: it takes an exec
    assert 0.4 < time.monotonic() - started < 2


def test_an_agent_interrupted_mid_reply_is_not_lent_again(pair, monkeypatch):
    kit_end, agent_end = pair
    agent = HostAgent(StandInApi(kit_end), "container-1")
    agent_end.sendall(frame(1, b"0 0 9 0\nhalf"))    # the rest never comes: Ctrl-C

    def interrupted(self, n, deadline):
        raise KeyboardInterrupt

    monkeypatch.setattr(StreamReader, "read", interrupted)
    assert agent.try_acquire()
    with pytest.raises(KeyboardInterrupt):
        agent.run(["echo", "whatever"], timeout=1)
    agent.release()
    assert agent.broken and not agent.try_acquire()
