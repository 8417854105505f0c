"""webapp.run_queue: one run at a time, a bounded line behind it, each place knowing how many are ahead."""

import threading
import time

import pytest

from webapp.run_queue import LineFull, RunQueue


def test_the_first_runs_and_the_others_wait_in_the_order_they_came() -> None:
    line = RunQueue(max_waiting=2)
    first, second, third = line.join(), line.join(), line.join()
    assert [p.position() for p in (first, second, third)] == [0, 1, 2]
    assert first.wait(0) and not second.wait(0.01) and not third.wait(0)
    first.leave()
    assert [p.position() for p in (first, second, third)] == [-1, 0, 1]
    assert second.wait(0) and not third.wait(0)


def test_a_full_line_turns_the_next_one_away_until_a_place_frees() -> None:
    line = RunQueue(max_waiting=1)
    line.join()
    waiting = line.join()
    with pytest.raises(LineFull, match="line is full"):
        line.join()
    assert len(line) == 2
    waiting.leave()  # gave up waiting: its place is free again
    assert line.join().position() == 1


def test_a_waiting_place_wakes_as_soon_as_the_run_ahead_leaves() -> None:
    line = RunQueue(max_waiting=1)
    running, waiting = line.join(), line.join()
    threading.Timer(0.2, running.leave).start()
    start = time.perf_counter()
    assert waiting.wait(5.0)
    assert 0.15 < time.perf_counter() - start < 2.0


def test_leaving_by_the_context_manager_frees_the_turn_even_on_an_error() -> None:
    line = RunQueue(max_waiting=0)
    with pytest.raises(RuntimeError, match="failed"), line.join() as place:
        assert place.wait(0)
        raise RuntimeError("the run failed")
    assert len(line) == 0 and line.join().position() == 0


def test_a_negative_line_length_is_refused() -> None:
    with pytest.raises(ValueError, match="max_waiting"):
        RunQueue(-1)
