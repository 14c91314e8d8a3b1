"""Experiments over a conversation's memory: replay it through another model, prompt or
memory setting; send one input to several models from the same memory state; keep the
reply you like.

Nothing here bypasses the memory: a replay's turns are real turns (``run_turn``) into
a new session, a comparison reads one snapshot and stores nothing, and adopting a
reply is one ``add`` of the human input and that reply, refused if the session moved
since the comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, MotorheadError
from ..memory import Memory, check_session_id
from ..records import AI, HUMAN, role_kind
from .models import resolve_model
from .turn import TURN_MARKER, ask, build_messages, prompt_identity, provenance, run_turn

if TYPE_CHECKING:
    import pandas as pd

MAX_COMPARED = 8
Progress = Callable[[int, int], None]  # (turns done, turns in all)


# -- replay ---------------------------------------------------------------------------


def replay(memory: Memory, session_id: str, model: Any, *, prompt: Any = None,
           window_size: int | None = None, summarizer: Any = None,
           new_id: str | None = None, namespace: Mapping[str, Any] | None = None,
           on_progress: Progress | None = None, wait_timeout: float = 300.0
           ) -> pd.DataFrame:
    """Send the human messages of ``session_id``, in order, each as a real turn through
    ``model`` (and ``prompt``, and a memory with ``window_size`` / ``summarizer`` when
    given) into the new session ``new_id``; folds are waited for at each turn, so the
    run is deterministic. An interrupt keeps the turns done so far (each turn is
    atomic). Returns the turn-aligned DataFrame of DESIGN.md section 6."""
    check_session_id(session_id)
    history = memory.history(session_id)
    turns = _human_turns(history)
    if not turns:
        raise InvalidInput(f"session {session_id!r} has no human messages to replay")
    new_id = new_id or _free_id(memory, f"{session_id}-replay")
    if memory.history(check_session_id(new_id), 0, 1):
        raise InvalidInput(f"session {new_id!r} already exists; replay into a new id")
    resolved = resolve_model(model, namespace)
    target = memory.sibling(window_size=window_size, summarizer=summarizer)
    rows: list[dict[str, Any]] = []
    try:
        for index, (human, source_reply) in enumerate(turns):
            started = time.perf_counter()
            reply = run_turn(target, new_id, human, resolved.model, prompt=prompt,
                             stream=False, metadata={"model": resolved.label,
                                                     "replay_of": session_id})
            target.wait(new_id, timeout=wait_timeout)
            last = target.history(new_id, target.get(new_id).message_count - 1, 1)[0]
            rows.append({"turn": index, "human": human, "source_reply": source_reply,
                         "reply": reply, "input_tokens": last.metadata.get("input_tokens", 0),
                         "output_tokens": last.metadata.get("output_tokens", 0),
                         "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                         "context": target.get(new_id).context})
            if on_progress is not None:
                on_progress(index + 1, len(turns))
    finally:
        if target is not memory:
            target.close()
    return replay_frame(rows, new_id)


def _human_turns(history: Sequence[Any]) -> list[tuple[str, str | None]]:
    """Each human message with the AI reply that followed it in the source (if any)."""
    turns: list[tuple[str, str | None]] = []
    for index, message in enumerate(history):
        if role_kind(message.role) != "human":
            continue
        following = history[index + 1] if index + 1 < len(history) else None
        reply = (following.content if following is not None
                 and role_kind(following.role) == "ai" else None)
        turns.append((message.content, reply))
    return turns


def _free_id(memory: Memory, base: str) -> str:
    taken = set(memory.sessions())
    for number in range(1, 10_000):
        candidate = f"{base}-{number}"
        if candidate not in taken:
            return candidate
    raise InvalidInput(f"no free session id like {base!r}-N; pass new_id")


def replay_frame(rows: list[dict[str, Any]], new_id: str) -> pd.DataFrame:
    from ..memory.frames import REPLAY_DTYPES, rows_frame

    frame = rows_frame(rows, REPLAY_DTYPES)
    frame.attrs["session_id"] = new_id
    return frame


# -- compare and adopt ----------------------------------------------------------------


@dataclass
class Comparison:
    """One input sent to several models from one memory snapshot (nothing stored)."""

    session_id: str
    text: str
    message_count: int  # the session's size at the snapshot: adopt refuses if it moved
    labels: list[str]
    replies: list[str | None]
    ledgers: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)


def compare(memory: Memory, session_id: str, text: str,
            models: Mapping[str, Any] | Sequence[Any], *, prompt: Any = None,
            namespace: Mapping[str, Any] | None = None,
            on_token: Callable[[int, str], None] | None = None) -> pd.DataFrame:
    """Send ``text`` to each model with the same memory snapshot, concurrently; store
    nothing. ``models``: ``{label: model or name}`` or a list of names. A model that
    fails shows its error in its row and does not stop the others. ``on_token(i, text)``
    sees model i's reply grow. The returned DataFrame (DESIGN.md section 6) carries the
    comparison in ``attrs["comparison"]`` for :func:`adopt`."""
    check_session_id(session_id)
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("the message to compare is empty")
    labelled = _labelled(models)
    if not 2 <= len(labelled) <= MAX_COMPARED:
        raise InvalidInput(f"compare takes 2 to {MAX_COMPARED} models, got {len(labelled)}")
    resolved = [(label, resolve_model(choice, namespace)) for label, choice in labelled]
    view = memory.get(session_id)
    messages = build_messages(view, text, prompt)
    next_turn = TURN_MARKER if isinstance(prompt, str) else None
    base = {"prompt": prompt_identity(prompt), "seen": provenance(view, prompt)}

    def one(index: int) -> tuple[str | None, dict[str, Any], str | None]:
        label, model = resolved[index]
        sink = None if on_token is None else (lambda partial: on_token(index, partial))
        try:
            reply, cost = ask(model.model, messages, on_token=sink, next_turn=next_turn)
        except MotorheadError:
            raise  # an interrupt (TurnInterrupted) stops the comparison
        except Exception as exc:  # noqa: BLE001 - shown in this model's row
            return None, {}, f"{type(exc).__name__}: {exc}"
        if not reply:
            return None, {}, "empty reply"
        name = model.label if label in model.label else f"{label} ({model.label})"
        return reply, {"model": name, **base, **cost}, None

    with ThreadPoolExecutor(len(resolved), thread_name_prefix="motorhead-compare") as pool:
        results = list(pool.map(one, range(len(resolved))))
    comparison = Comparison(session_id, text, view.message_count,
                            [label for label, _ in resolved], [r for r, _, _ in results],
                            [ledger for _, ledger, _ in results], [e for _, _, e in results])
    return comparison_frame(comparison)


def _labelled(models: Mapping[str, Any] | Sequence[Any]) -> list[tuple[str, Any]]:
    if isinstance(models, Mapping):
        return [(str(label), choice) for label, choice in models.items()]
    if isinstance(models, str):
        raise InvalidInput("models must be a list of names or a {label: model} dict")
    labelled = []
    for choice in models:
        if not isinstance(choice, str):
            raise InvalidInput("in a list, models are names (pass a {label: model} dict for "
                               "model objects)")
        labelled.append((choice, choice))
    return labelled


def comparison_frame(comparison: Comparison) -> pd.DataFrame:
    from ..memory.frames import COMPARE_DTYPES, rows_frame

    rows = [{"model": label, "reply": reply,
             "input_tokens": ledger.get("input_tokens", 0),
             "output_tokens": ledger.get("output_tokens", 0),
             "latency_ms": ledger.get("total_ms", 0.0), "error": error}
            for label, reply, ledger, error in zip(comparison.labels, comparison.replies,
                                                   comparison.ledgers, comparison.errors)]
    frame = rows_frame(rows, COMPARE_DTYPES)
    frame.attrs["comparison"] = comparison
    return frame


def adopt(memory: Memory, session_id: str, comparison: Any, choice: int | str) -> str:
    """Store the chosen reply of a comparison as the turn (the human input and that
    reply, one write). ``choice``: a row number or a model label. Refused, writing
    nothing, if the session moved since the comparison."""
    found = comparison.attrs.get("comparison") if hasattr(comparison, "attrs") else comparison
    if not isinstance(found, Comparison):
        raise InvalidInput("adopt needs the result of compare() (a comparison DataFrame)")
    if check_session_id(session_id) != found.session_id:
        raise InvalidInput(f"that comparison was made for session {found.session_id!r}")
    index = _choice(found, choice)
    if found.replies[index] is None:
        raise InvalidInput(f"{found.labels[index]!r} has no reply to adopt: "
                           f"{found.errors[index]}")
    if memory.get(session_id).message_count != found.message_count:
        raise InvalidInput("the session moved since the comparison (a turn was added); "
                           "compare again")
    memory.add(session_id, [
        {"role": HUMAN, "content": found.text},
        {"role": AI, "content": found.replies[index],
         "metadata": {**found.ledgers[index], "adopted_from": found.labels}},
    ])
    return found.replies[index]  # type: ignore[return-value]


def _choice(comparison: Comparison, choice: int | str) -> int:
    if isinstance(choice, bool):
        raise InvalidInput(f"choose a row number or a model label, got {choice!r}")
    if isinstance(choice, int):
        if not 0 <= choice < len(comparison.labels):
            raise InvalidInput(f"row {choice} is not one of 0..{len(comparison.labels) - 1}")
        return choice
    if isinstance(choice, str) and choice.isdigit():
        return _choice(comparison, int(choice))
    if choice in comparison.labels:
        return comparison.labels.index(choice)
    raise InvalidInput(f"no model {choice!r} in that comparison; one of: "
                       f"{', '.join(comparison.labels)}")
