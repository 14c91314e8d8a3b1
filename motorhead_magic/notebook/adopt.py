"""The buttons under a ``%%motorhead --compare`` output: one per model, storing that
reply as the turn (``%motorhead adopt N`` does the same from a cell)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..errors import MotorheadError
from ..memory import Memory


def adopt_buttons(frame: Any, memory: Memory, session_id: str,
                  on_adopted: Callable[[], None] | None = None) -> widgets.VBox:
    from ..chat.experiments import adopt

    comparison = frame.attrs["comparison"]
    note = widgets.HTML()
    buttons = []
    for index, label in enumerate(comparison.labels):
        button = widgets.Button(description=f"Adopt {index}: {label}",
                                layout=widgets.Layout(width="auto"),
                                disabled=comparison.replies[index] is None)
        button.add_class("mh-adopt")

        def click(_: Any, index: int = index, label: str = label) -> None:
            try:
                adopt(memory, session_id, frame, index)
            except MotorheadError as exc:
                note.value = f"not stored: {exc}"
                return
            for each in buttons:
                each.disabled = True
            note.value = f"stored the reply of {label} as the turn of {session_id}"
            if on_adopted is not None:
                on_adopted()

        button.on_click(click)
        buttons.append(button)
    return widgets.VBox([widgets.HBox(buttons), note])
