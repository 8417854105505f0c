"""vae.live_process: a live run trains in a child process at low priority and sends its snapshots and model."""

import os
import signal
import time

import pytest
import torch

from vae.live_process import NICENESS, ChildFailed, ChildRun, start_trainer
from vae.live_training import LiveSettings


@pytest.fixture(scope="module", autouse=True)
def trainer() -> None:
    start_trainer()


def test_a_child_run_sends_snapshots_then_its_model() -> None:
    with ChildRun([LiveSettings(max_steps=150)], names=["mine"]) as child:
        stream = iter(child)
        shots = [next(stream)[0]]  # the child has set its priority by its first snapshot
        nice = os.getpriority(os.PRIO_PROCESS, child.pid)
        shots += [shot for (shot,) in stream]
    assert nice == NICENESS
    assert shots[0].step == 0 and shots[-1].step == 150 and shots[-1].finished == "steps"
    assert torch.equal(torch.cat([s.steps for s in shots]), torch.arange(1, 151))
    (loaded,) = child.models
    assert loaded.name == "mine" and loaded.model.config.latent_dim == 2 and loaded.metadata.epochs == 2


def test_two_runs_in_turn_send_both_snapshots_each_time() -> None:
    with ChildRun([LiveSettings(beta=1, max_steps=40), LiveSettings(beta=8, max_steps=40)]) as child:
        turns = list(child)
    assert all(len(t) == 2 for t in turns) and [s.step for s in turns[-1]] == [40, 40]
    assert [m.metadata.train.beta for m in child.models] == [1.0, 8.0]


def test_stop_ends_a_child_run_within_a_few_snapshots_of_training_and_its_model_still_comes() -> None:
    """Stop is asked at the third snapshot; the run ends within about a second of its own training after it (three
    snapshot intervals' worth of steps), however slow the machine: the bound is counted in the run's own steps."""
    shots = []
    with ChildRun([LiveSettings()]) as child:
        for (shot,) in child:
            shots.append(shot)
            if len(shots) == 3:
                child.stop()
    interval = shots[2].step - shots[1].step  # the steps of one snapshot interval (SNAPSHOT_EVERY of training)
    assert shots[-1].finished == "stopped" and interval > 0
    assert shots[-1].step - shots[2].step <= 3 * interval
    assert len(child.models) == 1


def test_a_child_that_dies_is_reported_not_waited_for() -> None:
    child = ChildRun([LiveSettings()])
    shots = iter(child)
    next(shots)
    os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(ChildFailed, match="ended without its results"):
        for _ in shots:
            pass
    child.close()


def test_closing_a_run_nobody_reads_ends_its_process() -> None:
    child = ChildRun([LiveSettings()])
    time.sleep(1.0)  # snapshots pile up unread
    child.close()
    deadline = time.monotonic() + 10  # a loaded machine can take a moment to end and reap it
    while time.monotonic() < deadline:
        try:
            os.kill(child.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the run's process {child.pid} still exists 10 s after close()")


def test_names_must_match_the_runs() -> None:
    with pytest.raises(ValueError, match="one name per run"):
        ChildRun([LiveSettings()], names=["a", "b"])
