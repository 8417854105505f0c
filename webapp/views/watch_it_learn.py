"""Watch it learn: train a small VAE here, live, and see its latent space form (and, under pressure, collapse).

Runs train in a child process at low priority (vae.live_process), one at a time, with a few more
waiting in line (webapp.run_queue); static/learn.js draws each update. A finished run joins the
page's models for this visit: every view can explore it, and it can be downloaded.
"""

import threading
import uuid
from collections.abc import Iterator

import gradio as gr

from vae.live_process import ChildFailed, ChildRun, start_trainer
from vae.live_training import COLLAPSE, COMPARISONS, MAX_LATENT, MAX_SECONDS, LiveSettings, test_labels
from webapp.learn import LossHistory, TrainedModels, describe, run_message, update_text
from webapp.page import Page
from webapp.run_queue import LineFull, RunQueue

MAX_WAITING = 3  # runs waiting behind the one training: about three minutes' wait at most
WAIT_POLL = 1.0  # seconds between the queue position updates of a waiting run
BETA_VS = "beta 1 vs beta 8"
INTRO = """Train a small VAE right here, and watch it learn: its encoder reads a digit's 784 pixels through 256
units into the code, its decoder draws them back the same way, trained on 10,000 MNIST digits.
**Left**: the 1,000 test digits' codes (the means of q(z|x)), coloured by class: they start in one blob at the
origin and spread into clusters. **Right**: decodings of 64 fixed codes drawn from the prior, going from noise to
digits. **Below**: the loss's two parts at each step, reconstruction (how badly the decoder redraws a digit from
its code) and KL (how far each code's posterior strays from the prior, in nats), and the KL of each dimension.
A dimension whose KL falls to 0 carries nothing: it has *collapsed*. One run trains at a time on this server;
others wait in line."""


def watch_it_learn_view(page: Page) -> None:
    """The tab: settings, Train / Stop / ready comparisons, the live drawing, and the trained model to keep."""
    trained = TrainedModels(page.models)
    gr.set_static_paths([trained.folder])  # the page's decoder fetches trained weights from here
    line = RunQueue(MAX_WAITING)
    stops: dict[str, threading.Event] = {}  # session -> its run's stop flag, while it waits or trains
    largest = max(2, min(MAX_LATENT, page.models.max_dims))  # a trained model must fit the page's sliders
    labels = test_labels()  # the scatter's colours: the same test digits in every run
    threading.Thread(target=start_trainer, daemon=True).start()  # torch imports once, before the first Train

    with gr.Tab("Watch it learn", id="tab-learn", elem_id="tab-learn"):
        gr.Markdown(INTRO)
        with gr.Row():
            # With only 2-D models on the page, the size is fixed at 2 (a slider needs a range: 2 to 3, locked).
            latent = gr.Slider(2, max(largest, 3), value=2, step=1, label="Latent size", interactive=largest > 2,
                               info="How many numbers encode a digit. 2 draws the codes as they are; "
                                    "more are drawn on their two main directions.")
            beta = gr.Slider(0, 20, value=1, step=0.5, label="β (weight of the KL term)",
                             info="Higher pulls every code towards the prior: smoother map, blurrier digits.")
            warmup = gr.Slider(0, 20, value=0, step=1, label="KL warm-up (epochs)",
                               info="Raise the KL weight from 0 to β over this many passes over the digits.")
            seconds = gr.Slider(5, MAX_SECONDS, value=MAX_SECONDS, step=5, label="Time limit (seconds)",
                                info="The run stops by itself after this long.")
        with gr.Row():
            train = gr.Button("Train", variant="primary", elem_id="learn-train")
            stop = gr.Button("Stop", elem_id="learn-stop")
            versus = gr.Button("Compare β = 1 and β = 8", elem_id="learn-versus")
            collapse = gr.Button("Show posterior collapse", elem_id="learn-collapse")
        status = gr.Markdown("Press **Train**, or one of the ready comparisons.", elem_id="learn-status")
        gr.HTML('<div class="vae-learn"><p class="vae-learn-hint">The training will be drawn here.</p></div>',
                elem_id="learn-view")
        data = gr.Textbox(visible="hidden", elem_id="learn-data")  # the updates static/learn.js draws
        with gr.Row():
            explore = gr.Button("Explore the trained model in the other views", visible=False,
                                elem_id="learn-explore")
            download = gr.File(label="The trained model (safetensors)", file_count="multiple", visible=False,
                               elem_id="learn-download")
        names = gr.State([])  # this visit's trained models

    def watch(settings: list[LiveSettings], request: gr.Request) -> Iterator[dict]:
        """Wait for a turn, train in a child process, stream the updates, then keep the models."""
        session = request.session_hash or uuid.uuid4().hex
        if session in stops:
            raise gr.Error("A run of yours is already training or waiting: Stop it first.")
        try:
            place = line.join()
        except LineFull as e:
            raise gr.Error(f"Too many runs are waiting: {e}.") from None
        stopped = stops[session] = threading.Event()
        run_id = uuid.uuid4().hex
        try:
            with place:
                while not place.wait(WAIT_POLL) and not stopped.is_set():
                    ahead = place.position()
                    yield {status: f"Waiting in line: {ahead} run{'s' if ahead != 1 else ''} ahead of yours "
                                   f"(each at most {MAX_SECONDS:.0f} s)."}
                if stopped.is_set():
                    yield {status: "You left the line."}
                    return
                yield from train_and_show(settings, run_id, stopped)
        finally:
            stops.pop(session, None)

    def train_and_show(settings: list[LiveSettings], run_id: str, stopped: threading.Event) -> Iterator[dict]:
        """One turn: the child's snapshots as updates, then the finished models registered and offered."""
        histories = [LossHistory() for _ in settings]
        messages: list[dict] = []
        said = ""
        with ChildRun(settings) as child:
            try:
                for shots in child:
                    if stopped.is_set():
                        child.stop()
                    for history, shot in zip(histories, shots, strict=True):
                        history.add(shot)
                    messages = [run_message(s, shot, h) for s, shot, h in zip(settings, shots, histories, strict=True)]
                    said = "  \n".join(describe(s, shot) for s, shot in zip(settings, shots, strict=True))
                    yield {data: update_text(run_id, labels, messages), status: said}
            except ChildFailed as e:
                raise gr.Error(f"The training failed: {e}") from None
            finished = child.models
        kept = [trained.add(loaded) for loaded in finished]
        specs = [{"name": name, **spec} for name, spec in kept]
        files = [str(trained.path(name)) for name, _ in kept]
        kept_as = ", ".join(f"**{name}**" for name, _ in kept)
        yield {data: update_text(run_id, labels, messages, specs), explore: gr.update(visible=True),
               status: f"{said}  \nKept for this visit as {kept_as}: explore it in the other views, or download it.",
               download: gr.update(value=files, visible=True), names: [name for name, _ in kept]}

    def on_train(latent: float, beta: float, warmup: float, seconds: float, request: gr.Request) -> Iterator[dict]:
        """Train one VAE with the chosen settings."""
        if int(latent) > largest:
            raise gr.Error(f"Latent size {int(latent)} is too large here: at most {largest}, the page's sliders.")
        try:
            settings = LiveSettings(latent_dim=int(latent), beta=float(beta), warmup_epochs=float(warmup),
                                    seconds=float(seconds))
        except ValueError as e:
            raise gr.Error(f"Cannot train with these settings: {e}.") from None
        yield from watch([settings], request)

    def on_versus(request: gr.Request) -> Iterator[dict]:
        """β = 1 and β = 8 trained in turn, side by side."""
        yield from watch(list(COMPARISONS[BETA_VS]), request)

    def on_collapse(request: gr.Request) -> Iterator[dict]:
        """The KL weight climbs to a β no code is worth: the codes spread, then fall onto the prior."""
        yield from watch([COLLAPSE], request)

    def on_stop(request: gr.Request) -> str:
        """Stop this visitor's run (or leave the line); the last state stays on the page."""
        flag = stops.get(request.session_hash or "")
        if flag is None:
            return "Nothing of yours is training."
        flag.set()
        return "Stopping…"

    def on_explore(kept: list[str]) -> dict:
        """Offer this visit's trained models in the model picker and choose the newest."""
        alive = [n for n in kept if trained.path(n) is not None]
        if not kept:
            raise gr.Error("Train a model first: then it can be explored in the other views.")
        if not alive:
            raise gr.Error(f"The trained model is no longer kept on the server (it keeps the newest {trained.keep} "
                           "of every visitor's): train it again.")
        shipped = [n for n in page.models.models if trained.path(n) is None]
        return {page.model: gr.update(choices=shipped + alive, value=alive[-1])}

    outputs = [status, data, explore, download, names]
    live = {"concurrency_limit": None, "concurrency_id": "live", "show_progress": "hidden"}  # runs wait in `line`
    train.click(on_train, [latent, beta, warmup, seconds], outputs, api_name="train", **live)
    versus.click(on_versus, None, outputs, api_name="train_beta_1_vs_8", **live)
    collapse.click(on_collapse, None, outputs, api_name="train_collapse", **live)
    stop.click(on_stop, None, status, api_name="stop_training", queue=False)
    explore.click(on_explore, names, page.model, api_name="explore_trained")
    data.change(None, data, None, js="(text) => { window.vaeLearn?.update(text); }")
