"""The pytest plugin's labs: a session's runs share a pool per lab image and tracing
choice, made on first use and all closed when the session ends."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kit.cli import pytest_plugin


@dataclass
class StandInLabs:
    """Shared labs as a Provider makes them: closed by leaving them."""

    image: str
    trace: bool = True
    closed: int = 0

    def __exit__(self, *exc_info) -> None:
        self.closed += 1


@dataclass(frozen=True)
class StandInProvider:
    image: str

    def to_json(self) -> dict:
        return {"kind": "stand-in", "image": self.image}

    def labs(self, *, trace: bool, shared: bool) -> StandInLabs:
        assert shared
        return StandInLabs(self.image, trace)


@pytest.fixture
def labs():
    return pytest_plugin.SessionLabs()


def test_one_pool_per_testbed_and_tracing_choice(labs):
    first = labs(StandInProvider("netkit/lab:a"), True)
    assert labs(StandInProvider("netkit/lab:a"), True) is first
    others = [labs(StandInProvider("netkit/lab:b"), True),
              labs(StandInProvider("netkit/lab:a"), False)]
    assert len({id(p) for p in [first, *others]}) == 3
    assert others[1].trace is False


def test_closing_the_session_closes_every_pool_once(labs):
    made = [labs(StandInProvider("netkit/lab:a"), True),
            labs(StandInProvider("netkit/lab:b"), False)]
    labs.close()
    labs.close()
    assert [p.closed for p in made] == [1, 1]
    assert labs(StandInProvider("netkit/lab:a"), True) is not made[0]   # a new one after close


def test_the_fixture_shares_labs_unless_fresh_labs_is_asked(pytester):
    pytester.makepyfile("""
        def test_shared(netkit, netkit_labs):
            assert netkit.labs is netkit_labs

        def test_again(netkit, netkit_labs):
            assert netkit.labs is netkit_labs
    """)
    assert pytester.runpytest("-p", "no:cacheprovider").ret == 0
    pytester.makepyfile(test_fresh="""
        def test_fresh(netkit):
            assert netkit.labs is None
    """)
    assert pytester.runpytest("-p", "no:cacheprovider", "--netkit-fresh-labs",
                              "test_fresh.py").ret == 0


def test_a_pool_that_fails_to_close_does_not_keep_the_others_up(labs):
    made = [labs(StandInProvider("netkit/lab:a"), True),
            labs(StandInProvider("netkit/lab:b"), True)]

    def broken(*exc_info) -> None:
        raise RuntimeError("the engine went away")

    made[0].__exit__ = broken
    with pytest.raises(RuntimeError, match="went away"):
        labs.close()
    assert made[1].closed == 1
