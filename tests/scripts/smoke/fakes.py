"""A stand-in for the one `docker()` helper: records every argv, answers from a script."""

from __future__ import annotations

from collections.abc import Callable

from microshop_ci.core.tools import ToolError

Answer = str | Callable[[tuple[str, ...]], str] | ToolError


class FakeDocker:
    """Answers `docker(*args)` by the longest matching argv prefix; records every call."""

    def __init__(self, answers: dict[tuple[str, ...], Answer] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str, check: bool = True, timeout: float = 0) -> str:
        self.calls.append(args)
        for size in range(len(args), 0, -1):
            answer = self.answers.get(args[:size])
            if answer is None:
                continue
            if isinstance(answer, ToolError):
                if check:
                    raise answer
                return ""
            return answer(args) if callable(answer) else answer
        return ""
