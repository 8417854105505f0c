"""vae.live_training: the loop behind "Watch it learn" learns, obeys beta, stops, keeps its time cap, shows itself."""

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import torch

from scripts.live_digits import TEST_DIGITS, TRAIN_DIGITS, subset
from tests.conftest import SAMPLE
from vae.live_training import (
    COLLAPSE,
    DIGITS_FILE,
    MAX_SECONDS,
    SAMPLE_GRID,
    LiveDigits,
    LiveSettings,
    Plane,
    Snapshot,
    as_loaded,
    in_turn,
    load_digits,
    new_model,
    train_live,
)
from vae.loaded import load_model, save_model
from vae.loss import reconstruction_nll


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Train on one thread, as vae.live_process's child does (two threads on a busy machine wait on each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> LiveDigits:
    return load_digits()


def run(digits: LiveDigits, settings: LiveSettings, **kw: object) -> list[Snapshot]:
    """Every snapshot of a run, to its end."""
    return list(train_live(new_model(settings), digits, settings, **kw))


def losses(shots: list[Snapshot]) -> tuple[torch.Tensor, torch.Tensor]:
    """The reconstruction and KL terms of every step of a run."""
    return torch.cat([s.recon for s in shots]), torch.cat([s.kl for s in shots])


def test_the_shipped_subset_is_the_first_mnist_digits_the_tests_sample_begins_with(digits: LiveDigits) -> None:
    assert digits.train.shape == (TRAIN_DIGITS, 1, 28, 28) and digits.test.shape == (TEST_DIGITS, 1, 28, 28)
    with np.load(SAMPLE) as sample, np.load(DIGITS_FILE) as shipped:
        assert (shipped["train_images"][:3000] == sample["train_images"]).all()
        assert (shipped["test_images"] == sample["test_images"]).all()
        assert (shipped["test_labels"] == sample["test_labels"]).all()
    assert sorted(digits.test_labels.unique().tolist()) == list(range(10))


def test_the_shipped_subset_is_what_the_script_writes_from_the_full_mnist(full_data_dir) -> None:
    with np.load(DIGITS_FILE) as shipped:
        for key, array in subset(full_data_dir).items():
            assert (shipped[key] == array).all(), key


def test_the_loss_falls_below_the_mean_digit_within_the_cap(digits: LiveDigits) -> None:
    settings = LiveSettings(max_steps=300)
    shots = run(digits, settings)
    recon, kl = losses(shots)
    assert shots[-1].finished == "steps" and shots[-1].step == 300 and shots[-1].seconds < settings.seconds
    # A decoder that ignores its code can do no better than the mean training digit; a VAE that uses its
    # code reconstructs better than that, and pays for it in KL.
    mean = digits.train.mean(0, keepdim=True).clamp(1e-3, 1 - 1e-3)
    mean_digit = reconstruction_nll(torch.logit(mean).expand_as(digits.train), digits.train).mean()
    assert recon[:10].mean() > 400  # noise: each pixel about 50/50, up to 784 log 2 = 543 nats
    assert recon[-50:].mean() < mean_digit - 15
    assert (recon + kl)[-50:].mean() < mean_digit
    assert kl[-50:].mean() > 2


def test_a_higher_beta_buys_a_lower_kl_with_a_worse_reconstruction(digits: LiveDigits) -> None:
    (recon1, kl1), (recon8, kl8) = (losses(run(digits, LiveSettings(beta=beta, max_steps=400))) for beta in (1, 8))
    assert kl8[-50:].mean() < 0.6 * kl1[-50:].mean()
    assert recon8[-50:].mean() > recon1[-50:].mean()


def test_a_run_repeats_step_for_step_and_its_seed_changes_it(digits: LiveDigits) -> None:
    a, b, c = (run(digits, LiveSettings(max_steps=40, seed=seed)) for seed in (0, 0, 1))
    assert torch.equal(torch.cat([s.recon for s in a]), torch.cat([s.recon for s in b]))
    assert torch.equal(a[-1].codes, b[-1].codes) and torch.equal(a[-1].samples, b[-1].samples)
    assert not torch.equal(a[-1].codes, c[-1].codes)


def test_stop_ends_the_run_after_the_step_it_is_set_in(digits: LiveDigits) -> None:
    settings = LiveSettings()
    stop = threading.Event()
    shots = train_live(new_model(settings), digits, settings, stop)
    first = next(shots)
    assert first.step == 0 and first.finished is None
    stop.set()
    last = next(shots)
    assert last.step == 1 and last.finished == "stopped"
    assert next(shots, None) is None


def test_stop_from_another_thread_ends_a_run_at_once(digits: LiveDigits) -> None:
    settings = LiveSettings()
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    start = time.perf_counter()
    shots = run(digits, settings, stop=stop)
    assert shots[-1].finished == "stopped"
    assert time.perf_counter() - start < 2.5


def test_the_time_cap_holds_and_snapshots_come_at_least_every_second(digits: LiveDigits) -> None:
    settings = LiveSettings(seconds=3.0)
    model = new_model(settings)
    start = time.perf_counter()
    arrivals, shots = [], []
    for shot in train_live(model, digits, settings):
        arrivals.append(time.perf_counter() - start)
        shots.append(shot)
    assert shots[-1].finished == "time" and all(s.finished is None for s in shots[:-1])
    assert 3.0 <= shots[-1].seconds < 3.5
    assert arrivals[0] < 1.0 and max(np.diff(arrivals)) < 1.0
    assert [s.step for s in shots] == sorted({s.step for s in shots})  # every snapshot is new
    steps = torch.cat([s.steps for s in shots])
    assert torch.equal(steps, torch.arange(1, shots[-1].step + 1))  # each step's losses, once


def test_time_waiting_for_the_consumer_does_not_count(digits: LiveDigits) -> None:
    settings = LiveSettings(seconds=1.0)
    start = time.perf_counter()
    shots = []
    for shot in train_live(new_model(settings), digits, settings, every=0.25):
        shots.append(shot)
        time.sleep(0.3)
    shot = shots[-1]
    assert shot.finished == "time" and shot.seconds < 1.5
    assert time.perf_counter() - start > 2.0


def test_a_snapshot_shows_codes_samples_and_dimensions(digits: LiveDigits) -> None:
    shot = run(digits, LiveSettings(latent_dim=4, max_steps=100))[-1]
    assert shot.codes.shape == (TEST_DIGITS, 2) and shot.kl_per_dim.shape == (4,)
    assert shot.samples.shape == (SAMPLE_GRID**2, 28, 28)
    assert 0 <= shot.samples.min() and shot.samples.max() <= 1
    assert shot.epoch == pytest.approx(100 / 79)  # 10,000 digits in minibatches of 128


def test_more_than_two_dimensions_are_shown_on_their_two_principal_axes() -> None:
    mu = torch.randn(500, 5, generator=torch.Generator().manual_seed(0)) * torch.tensor([0.1, 3.0, 0.2, 1.5, 0.3])
    plane = Plane()
    codes = plane(mu)
    spread = codes.var(0)
    assert spread[0] == pytest.approx(9.0, rel=0.2) and spread[1] == pytest.approx(2.25, rel=0.2)
    assert torch.corrcoef(codes.T)[0, 1].abs() < 1e-4
    plane.axes = -plane.axes  # as if the axes had pointed the other way last time
    assert torch.allclose(plane(mu), -codes, atol=1e-5)  # they keep pointing that way
    two = torch.randn(10, 2)
    assert torch.equal(Plane()(two), two)


def test_collapse_preset_spreads_the_codes_then_collapses_them_onto_the_prior(digits: LiveDigits) -> None:
    shots = run(digits, replace(COLLAPSE, max_steps=1800, seconds=MAX_SECONDS))
    _, kl = losses(shots)
    assert kl.unfold(0, 50, 50).mean(1).max() > 2  # the codes carried information first
    assert kl[-50:].mean() < 0.3  # then almost none: the posterior is the prior
    assert shots[-1].codes.std(0).max() < 0.5 * max(s.codes.std(0).max() for s in shots)


def test_runs_in_turn_each_go_to_their_own_end(digits: LiveDigits) -> None:
    settings = [LiveSettings(beta=1, max_steps=60), LiveSettings(beta=8, max_steps=90)]
    turns = list(in_turn([train_live(new_model(s), digits, s, every=0.05) for s in settings]))
    assert all(len(turn) == 2 for turn in turns)
    assert [s.step for s in turns[-1]] == [60, 90] and all(s.finished == "steps" for s in turns[-1])
    assert turns[0][0].step == turns[0][1].step == 0


def test_a_finished_run_is_a_model_to_explore_and_download(digits: LiveDigits, tmp_path) -> None:
    settings = LiveSettings(max_steps=200)
    model = new_model(settings)
    last = list(train_live(model, digits, settings))[-1]
    loaded = as_loaded(model, settings, last, digits)
    save_model(tmp_path / "mine.safetensors", loaded.model, loaded.metadata, loaded.extras)
    again = load_model(tmp_path / "mine.safetensors")
    assert again.metadata == loaded.metadata and again.latent_dim == 2
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(), model.state_dict().values(),
                                                 strict=True))
    assert again.extras["test_mu"].shape == (TEST_DIGITS, 2) and again.metadata.train.beta == 1.0
    assert again.metadata.metrics.test_nelbo == pytest.approx((last.recon + last.kl).mean().item(), rel=0.15)


@pytest.mark.parametrize("bad, words", [({"latent_dim": 9}, "latent size"), ({"seconds": 120}, "time cap"),
                                        ({"beta": -1}, "beta"), ({"max_steps": 0}, "max_steps")])
def test_settings_out_of_bounds_are_refused_with_a_reason(bad: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        LiveSettings(**bad)


def test_a_model_that_does_not_fit_the_settings_is_refused(digits: LiveDigits) -> None:
    with pytest.raises(ValueError, match="config"):
        next(train_live(new_model(LiveSettings(latent_dim=3)), digits, LiveSettings()))


def test_a_git_lfs_pointer_in_place_of_the_digits_says_how_to_get_them(tmp_path) -> None:
    pointer = tmp_path / "mnist-live.npz"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1806556\n")
    with pytest.raises(RuntimeError, match="git lfs pull"):
        load_digits(pointer)
