"""A line for expensive runs: one runs at a time, a few wait in order, and each knows its place.

Gradio's own queue cannot do this for one event: its `max_size` counts every event of the app, so a
line of training runs would turn away uploads too. Threads only, no UI code.

    place = runs.join()            # raises LineFull when max_waiting are already waiting
    with place:                    # leaves the line on exit, whatever happens
        while not place.wait(1.0): # True once it is this place's turn
            show(place.position()) # how many are ahead: 0 means running
        run()
"""

import threading


class LineFull(RuntimeError):
    """Too many runs are waiting already; the message says how many."""


class Place:
    """One run's place in a RunQueue, from joining until it leaves (as a context manager, on exit)."""

    def __init__(self, line: "RunQueue") -> None:
        self.line = line

    def position(self) -> int:
        """Runs ahead of this one: 0 when it is this one's turn, -1 once it has left."""
        return self.line.position(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for this place's turn; whether it has come."""
        return self.line.wait(self, timeout)

    def leave(self) -> None:
        """Give up the place (or the turn), letting the next one move up."""
        self.line.leave(self)

    def __enter__(self) -> "Place":
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()


class RunQueue:
    """First come, first served: the first place in line runs, at most `max_waiting` more wait."""

    def __init__(self, max_waiting: int) -> None:
        if max_waiting < 0:
            raise ValueError(f"max_waiting must not be negative, got {max_waiting}")
        self.max_waiting = max_waiting
        self._line: list[Place] = []
        self._changed = threading.Condition()

    def __len__(self) -> int:
        """Places in line, the running one included."""
        with self._changed:
            return len(self._line)

    def join(self) -> Place:
        """A place at the end of the line; LineFull if max_waiting places are already waiting."""
        with self._changed:
            if len(self._line) > self.max_waiting:
                raise LineFull(f"the line is full ({self.max_waiting} waiting behind the one running): "
                               "try again in a minute")
            place = Place(self)
            self._line.append(place)
            return place

    def position(self, place: Place) -> int:
        """How many places are ahead of `place`; -1 if it is not in line."""
        with self._changed:
            return self._line.index(place) if place in self._line else -1

    def wait(self, place: Place, timeout: float | None = None) -> bool:
        """Block until `place` is first in line or `timeout` seconds pass; whether it is first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._line[:1] == [place], timeout)

    def leave(self, place: Place) -> None:
        """Take `place` out of the line (nothing if it has left already) and wake those waiting."""
        with self._changed:
            if place in self._line:
                self._line.remove(place)
                self._changed.notify_all()
