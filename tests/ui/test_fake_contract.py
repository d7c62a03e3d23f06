"""FakeController keeps up with the AgentController Protocol: every method the window and
the API may call exists on the fake with the same parameters (names and order)."""

from __future__ import annotations

import inspect

from astrolens.app.agent import AgentRuntime
from astrolens.domain.agent import AgentController
from tests.ui.fakes import FakeController


def _members(cls: type) -> dict[str, object]:
    return {n: m for n, m in vars(cls).items() if not n.startswith("_")}


def test_fake_and_real_controllers_implement_the_whole_protocol() -> None:
    wanted = _members(AgentController)
    assert "annotate" in wanted and "image_png" in wanted  # the API's additions are there
    for impl in (FakeController, AgentRuntime):
        for name, member in wanted.items():
            assert hasattr(impl, name), f"{impl.__name__} lacks {name}"
            if inspect.isfunction(member):
                expected = list(inspect.signature(member).parameters)
                got = list(inspect.signature(getattr(impl, name)).parameters)
                assert got == expected, (impl.__name__, name, got, expected)
                assert inspect.iscoroutinefunction(getattr(impl, name)) == (
                    inspect.iscoroutinefunction(member)
                ), (impl.__name__, name)
