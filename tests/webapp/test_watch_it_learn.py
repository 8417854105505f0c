"""Watch it learn: what the page is sent (webapp.learn), the trained models kept, and the view through its API."""

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError

from benchmarks.harness import free_port
from tests.helpers import WEIGHTS, api_client
from vae.live_training import LiveDigits, LiveSettings, Snapshot, load_digits, new_model, train_live
from vae.loaded import load_model, load_models
from webapp.demo import MAX_FILE_SIZE, create_demo
from webapp.learn import HISTORY_POINTS, LossHistory, TrainedModels, run_message, update_text
from webapp.page import Models
from webapp.views.watch_it_learn import MAX_WAITING


def shot(first: int, n: int) -> Snapshot:
    """A snapshot bringing steps first..first+n-1, whose reconstruction term is the step number."""
    steps = torch.arange(first, first + n)
    return Snapshot(first + n - 1, 0.0, 0.0, steps, steps.float(), torch.ones(n), torch.zeros(1000, 2),
                    torch.zeros(2), torch.zeros(64, 28, 28))


def test_the_loss_history_is_evened_out_to_a_few_hundred_points_keeping_the_means() -> None:
    history = LossHistory()
    for first in range(1, 10_001, 500):
        history.add(shot(first, 500))
    curves = history.curves()
    assert len(curves["step"]) == len(curves["recon"]) == len(curves["kl"]) == HISTORY_POINTS
    assert curves["recon"] == curves["step"]  # each point averages the same steps in every curve
    assert curves["step"][0] == pytest.approx(13.0) and curves["step"][-1] == pytest.approx(9988.0)
    assert set(curves["kl"]) == {1.0}


def test_a_short_history_keeps_every_step_and_an_empty_one_is_empty() -> None:
    assert LossHistory().curves() == {"step": [], "recon": [], "kl": []}
    history = LossHistory()
    history.add(shot(1, 0))
    history.add(shot(1, 7))
    assert history.curves()["step"] == [1, 2, 3, 4, 5, 6, 7]


def test_an_update_carries_codes_samples_and_losses_the_page_can_draw() -> None:
    settings = LiveSettings(latent_dim=3, beta=4, max_steps=5)
    digits = load_digits()
    digits = LiveDigits(digits.train, digits.test[:50], digits.test_labels[:50])  # a quick snapshot
    history = LossHistory()
    for last in train_live(new_model(settings), digits, settings):
        history.add(last)
    update = json.loads(update_text("run-1", [7] * 50, [run_message(settings, last, history)]))
    (run,) = update["runs"]
    assert update["run"] == "run-1" and update["labels"] == [7] * 50 and update["models"] == []
    assert run["title"] == "β = 4, 3-D latent" and run["step"] == 5 and run["finished"] == "steps"
    assert len(run["codes"]) == 2 * 50 and len(run["kl_per_dim"]) == 3
    samples = torch.frombuffer(bytearray(base64.b64decode(run["samples"])), dtype=torch.uint8)
    assert torch.equal(samples, (last.samples * 255 + 0.5).to(torch.uint8).flatten())
    assert run["loss"]["step"] == [1, 2, 3, 4, 5]


def test_trained_models_are_saved_registered_and_only_the_newest_kept(tmp_path: Path) -> None:
    shipped = load_models(WEIGHTS)[0]
    models = Models(dict(shipped))
    before = models.models
    trained = TrainedModels(models, keep=2)
    added = [trained.add(load_model(WEIGHTS / "mlp-2d.safetensors")) for _ in range(3)]  # stand-ins
    names = [name for name, _ in added]
    assert len(set(names)) == 3 and all(n.startswith("trained-") and n.endswith("-2d") for n in names)
    assert set(models.models) == set(shipped) | set(names[1:])  # the oldest went
    assert before is not models.models and set(before) == set(shipped)  # replaced, never changed under a reader
    assert trained.path(names[0]) is None and not any(trained.folder.glob(f"{names[0]}.*"))
    name, spec = added[-1]
    again = load_model(trained.path(name))
    assert again.metadata == models.models[name].metadata and spec["latent_dim"] == 2
    assert spec["url"].endswith(f"{name}.safetensors") and spec["has_codes"]


# --- the view, served -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def visitor() -> Iterator[Callable[[], Client]]:
    """A new visitor of the page served on the shipped weights: each call, a client with a session of its own."""
    demo = create_demo(WEIGHTS)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, max_file_size=MAX_FILE_SIZE,
                show_error=True, quiet=True)
    try:
        yield lambda: api_client(f"http://127.0.0.1:{port}/")
    finally:
        demo.close()


def final(job) -> tuple[str, dict]:
    """The last status and update of a finished /train job."""
    outputs = job.outputs()
    status = outputs[-1][0]
    updates = [json.loads(o[1]) for o in outputs if o[1]]
    return status, updates


WAIT_SECONDS = 60.0  # the longest a run's first update may take on a loaded machine


def outputs_once(job, done: Callable[[list], bool], seconds: float = WAIT_SECONDS) -> list:
    """A running job's outputs once `done` holds for them, or as they are after `seconds` (the test's assertions
    then say what is missing)."""
    deadline = time.monotonic() + seconds
    while not done(outputs := job.outputs()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return outputs


def test_train_streams_the_run_and_keeps_the_model_for_this_visit(visitor: Callable[[], Client]) -> None:
    me = visitor()
    job = me.submit(2, 1.0, 0, 5, api_name="/train")
    job.result(timeout=300)
    status, updates = final(job)
    assert updates[0]["runs"][0]["step"] == 0
    steps = [u["runs"][0]["step"] for u in updates]
    assert steps == sorted(steps) and steps[-1] > 0
    last = updates[-1]
    assert last["runs"][0]["finished"] == "time" and last["runs"][0]["seconds"] >= 5
    (spec,) = last["models"]
    assert spec["name"] in status and "Kept for this visit" in status
    picked = me.predict(api_name="/explore_trained")
    assert picked["value"] == spec["name"] and spec["name"] in [c[0] for c in picked["choices"]]
    info, *_ = me.predict(spec["name"], api_name="/select_model")
    assert "into 2 numbers" in info
    other = visitor()  # another visitor's picker never offers it
    with pytest.raises(AppError, match="Train a model first"):
        other.predict(api_name="/explore_trained")


def test_stop_ends_a_run_soon_and_its_model_is_still_kept(visitor: Callable[[], Client]) -> None:
    """Stop after the third update: the run ends within six updates' worth of its steps (3 s of its training, of
    the 60 asked; counted in steps, not seconds, so a slow machine changes nothing), and its model is kept."""
    me = visitor()
    job = me.submit(2, 1.0, 0, 60, api_name="/train")
    shown = [o for o in outputs_once(job, lambda outputs: sum(1 for o in outputs if o[1]) >= 3, 2 * WAIT_SECONDS)
             if o[1]]
    me.predict(api_name="/stop_training")
    job.result(timeout=120)
    steps = [json.loads(o[1])["runs"][0]["step"] for o in shown]
    _, updates = final(job)
    interval = max(b - a for a, b in zip(steps, steps[1:], strict=False))
    assert updates[-1]["runs"][0]["finished"] == "stopped" and updates[-1]["models"] and interval > 0
    assert updates[-1]["runs"][0]["step"] - steps[-1] <= 6 * interval


def test_runs_wait_in_line_their_place_shown_and_a_full_line_turns_visitors_away(visitor: Callable[[], Client]) -> None:
    visitors = [visitor() for _ in range(MAX_WAITING + 2)]
    jobs = []
    for visitor in visitors[:-1]:  # each joins the line once the one before has its first update: in this order
        jobs.append(visitor.submit(2, 1.0, 0, 60, api_name="/train"))
        outputs_once(jobs[-1], bool)
    statuses = [job.outputs()[-1][0] if job.outputs() else "" for job in jobs]
    with pytest.raises(AppError, match="Too many runs are waiting"):
        visitors[-1].predict(2, 1.0, 0, 60, api_name="/train")
    for visitor in visitors[:-1]:
        visitor.predict(api_name="/stop_training")
    for job in jobs:
        job.result(timeout=120)
    assert [f"{k} run{'s' if k > 1 else ''} ahead" in s for k, s in enumerate(statuses[1:], 1)] == [True] * MAX_WAITING
    assert all("You left the line" in job.outputs()[-1][0] for job in jobs[1:])



def test_a_second_run_of_the_same_visitor_is_refused_while_the_first_trains(visitor: Callable[[], Client]) -> None:
    me = visitor()
    job = me.submit(2, 1.0, 0, 60, api_name="/train")
    time.sleep(1.0)
    with pytest.raises(AppError, match="already training or waiting"):
        me.predict(2, 1.0, 0, 60, api_name="/train")
    me.predict(api_name="/stop_training")
    job.result(timeout=120)


def test_settings_out_of_range_are_refused_with_a_reason(visitor: Callable[[], Client]) -> None:
    with pytest.raises(AppError, match="less than minimum value 2"):
        visitor().predict(1, 1.0, 0, 60, api_name="/train")
