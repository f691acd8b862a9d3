"""Undo, redo and clear for the drawing canvas, kept on the Python side.

The canvas component has its own undo/redo, but only in a toolbar that appears on mouse hover:
never on a touch screen. So the page keeps the strokes itself and puts real buttons beside
Predict. Undoing means giving the canvas an earlier list of strokes as its `initial_drawing`; the
canvas redraws them and reports its new pixels, which reruns the page.

Pure bookkeeping, no Streamlit: `observe` what the canvas reports on every run; `undo`, `redo` and
`clear` change what `initial_drawing` asks the canvas to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Strokes = list[dict[str, Any]]  # Fabric.js objects, as the canvas reports them


@dataclass
class StrokeHistory:
    current: Strokes = field(default_factory=list)
    undo_stack: list[Strokes] = field(default_factory=list)
    redo_stack: list[Strokes] = field(default_factory=list)
    # What the canvas was asked to show last (None: nothing yet, the canvas starts empty). The
    # revision makes every request differ from the one before, even for the same strokes: the
    # canvas only redraws when its `initial_drawing` changes.
    initial_drawing: dict[str, Any] | None = None
    revision: int = 0
    # While the canvas has not yet redrawn what it was asked to, it still reports the old strokes.
    _awaiting: Strokes | None = None
    _reported: Strokes | None = None

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    @property
    def is_empty(self) -> bool:
        return not self.current

    def observe(self, strokes: Strokes | None) -> None:
        """Take in what the canvas reported this run (None: it has not reported yet)."""
        if strokes is None:
            return
        if self._awaiting is not None:
            if strokes == self._reported:
                return  # the canvas has not redrawn yet: this is the drawing before the change
            awaited, self._awaiting = self._awaiting, None
            if len(strokes) == len(awaited):
                self.current, self._reported = strokes, strokes
                return
            # Something else came first (a stroke drawn meanwhile): treat it as drawing, below.
        self._reported = strokes
        if strokes != self.current:
            self.undo_stack.append(self.current)
            self.redo_stack.clear()
            self.current = strokes

    def undo(self) -> None:
        if self.undo_stack:
            self.redo_stack.append(self.current)
            self._show(self.undo_stack.pop())

    def redo(self) -> None:
        if self.redo_stack:
            self.undo_stack.append(self.current)
            self._show(self.redo_stack.pop())

    def clear(self) -> None:
        """An empty canvas; undo brings the strokes back."""
        if self.current:
            self.undo_stack.append(self.current)
            self.redo_stack.clear()
            self._show([])

    def _show(self, strokes: Strokes) -> None:
        if self._reported is None:
            self._reported = self.current
        self.current = strokes
        self._awaiting = strokes
        self.revision += 1
        self.initial_drawing = {"objects": strokes, "digitReaderRevision": self.revision}
