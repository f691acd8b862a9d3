"""Undo, redo and clear bookkeeping for the canvas (frontend/history.py), without a browser.

The canvas is played by `FakeCanvas`: like the real component it reports the old strokes on the
run right after it was asked to redraw, and the redrawn ones on the run after that.
"""

from __future__ import annotations

from typing import Any

from frontend.history import StrokeHistory


def stroke(name: str) -> dict[str, Any]:
    return {"type": "path", "path": [["M", 0, 0], ["L", 1, 1]], "name": name}


A, B, C = stroke("a"), stroke("b"), stroke("c")


class FakeCanvas:
    def __init__(self) -> None:
        self.strokes: list[dict[str, Any]] = []
        self.loaded: dict[str, Any] | None = None

    def run(self, history: StrokeHistory) -> None:
        """One rerun: the canvas reports, then picks up a changed initial_drawing (for next run)."""
        history.observe(list(self.strokes))
        if history.initial_drawing != self.loaded:
            self.loaded = history.initial_drawing
            assert self.loaded is not None
            self.strokes = list(self.loaded["objects"])
            history.observe(list(self.strokes))  # the redraw reports, rerunning the page

    def draw(self, history: StrokeHistory, new: dict[str, Any]) -> None:
        self.strokes.append(new)
        self.run(history)


def test_undo_and_redo_walk_the_strokes_back_and_forth() -> None:
    history, canvas = StrokeHistory(), FakeCanvas()
    assert not history.can_undo and not history.can_redo and history.is_empty
    canvas.draw(history, A)
    canvas.draw(history, B)
    assert history.current == [A, B] and history.can_undo and not history.can_redo

    history.undo()
    canvas.run(history)
    assert canvas.strokes == [A] == history.current
    assert history.can_redo
    history.undo()
    canvas.run(history)
    assert canvas.strokes == [] and history.is_empty and not history.can_undo

    history.redo()
    canvas.run(history)
    history.redo()
    canvas.run(history)
    assert canvas.strokes == [A, B] == history.current and not history.can_redo


def test_a_new_stroke_after_undo_drops_the_redo() -> None:
    history, canvas = StrokeHistory(), FakeCanvas()
    canvas.draw(history, A)
    canvas.draw(history, B)
    history.undo()
    canvas.run(history)
    canvas.draw(history, C)
    assert history.current == [A, C] and not history.can_redo
    history.undo()
    canvas.run(history)
    assert canvas.strokes == [A]


def test_the_same_strokes_twice_still_redraw() -> None:
    """A → AB → undo → A → draw B' → undo → A: the second request for [A] must differ too."""
    history, canvas = StrokeHistory(), FakeCanvas()
    canvas.draw(history, A)
    canvas.draw(history, B)
    history.undo()
    canvas.run(history)
    first = history.initial_drawing
    canvas.draw(history, B)
    history.undo()
    canvas.run(history)
    assert history.initial_drawing != first
    assert canvas.strokes == [A]


def test_clear_empties_the_canvas_and_undo_brings_it_back() -> None:
    history, canvas = StrokeHistory(), FakeCanvas()
    canvas.draw(history, A)
    canvas.draw(history, B)
    history.clear()
    canvas.run(history)
    assert canvas.strokes == [] and history.is_empty
    history.undo()
    canvas.run(history)
    assert canvas.strokes == [A, B]
    history.clear()
    history.clear()  # nothing left to clear: no extra undo step
    canvas.run(history)
    history.undo()
    canvas.run(history)
    assert canvas.strokes == [A, B]


def test_the_stale_report_before_the_redraw_is_not_taken_for_a_stroke() -> None:
    history, canvas = StrokeHistory(), FakeCanvas()
    canvas.draw(history, A)
    canvas.draw(history, B)
    history.undo()
    history.observe([A, B])  # the run right after Undo: the canvas has not redrawn yet
    history.observe([A, B])
    assert history.current == [A] and history.can_redo
    assert history.undo_stack == [[]] and history.redo_stack == [[A, B]]


def test_nothing_reported_yet_changes_nothing() -> None:
    history = StrokeHistory()
    history.observe(None)
    history.observe([])
    assert not history.can_undo and history.initial_drawing is None
    history.undo()
    history.redo()
    assert history.initial_drawing is None
