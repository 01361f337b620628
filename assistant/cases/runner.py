"""Play benchmark cases through an Assistant: the one case runner.

Every case is a fresh conversation (``Assistant.start``) and every turn goes
through ``Assistant.handle``, the path the API uses, so what a case shows is
what a citizen gets.  ``eval`` turns the played turns into its metrics
(``eval.runner.run_benchmark``); the knowledge operators' publish gate
(``assistant.workbench``) plays an item's cases through the published and the
draft knowledge and compares them with :func:`item_found`.

A turn that raises is yielded with its error and the rest of that case is
skipped (its later turns depend on the failed one); the caller decides what
an error means (eval lists it and leaves it out of every metric; the gate
refuses to publish).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.cases.format import BenchTurn, Case

if TYPE_CHECKING:
    from assistant.conversations import Assistant, Exchange


@dataclass(frozen=True)
class PlayedTurn:
    """One benchmark turn as the assistant handled it (or the error it raised)."""

    case: Case
    #: 0-based position of the turn in its case.
    index: int
    turn: BenchTurn
    #: the handled message; None when the pipeline raised.
    exchange: Exchange | None
    #: wall-clock milliseconds around ``Assistant.handle``.
    latency_ms: float = 0.0
    #: ``Type: message`` of the exception, when the pipeline raised.
    error: str = ""
    #: later turns of the case skipped because this one raised.
    skipped: int = 0


def play_cases(
    assistant: Assistant,
    cases: Iterable[Case],
    *,
    on_turn: Callable[[PlayedTurn], None] | None = None,
) -> Iterator[PlayedTurn]:
    """Yield every played turn of ``cases``, in order (see the module docstring).

    ``on_turn`` is called with each played turn before it is yielded (progress bars).
    """
    for case in cases:
        conversation = assistant.start(lang="en" if case.lang == "en" else "zh")
        for index, turn in enumerate(case.turns):
            started = time.perf_counter()
            try:
                exchange = assistant.handle(conversation.id, turn.user)
            except Exception as e:  # reported with the turn; see the module docstring
                played = PlayedTurn(
                    case, index, turn, None, error=f"{type(e).__name__}: {e}", skipped=len(case.turns) - index - 1
                )
                if on_turn is not None:
                    on_turn(played)
                yield played
                break
            played = PlayedTurn(case, index, turn, exchange, (time.perf_counter() - started) * 1000.0)
            if on_turn is not None:
                on_turn(played)
            yield played


def item_found(ranking: Sequence[str], expect_items: Sequence[str], expect_action: str | None) -> bool:
    """Whether a turn found its expected item: the gate's rule (and ``eval item``'s).

    At rank 1 for a turn expected to be answered (the answer is built from the
    top item), within the top 5 otherwise (a clarifying question offers the
    candidates).  A turn expecting no item always passes.
    """
    if not expect_items:
        return True
    k = 1 if expect_action in (None, "answer") else 5
    return any(i in expect_items for i in ranking[:k])
