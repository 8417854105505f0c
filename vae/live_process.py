"""Live training in a child process, so that the server's own requests keep their CPU.

A run trains in a process of its own, at the lowest CPU priority (nice 19) and on one torch thread:
the kernel then gives the app's requests the CPU first, and the GIL the app's threads share never
waits for a training step (trained in a thread of the app instead, it doubled /reconstruct's median;
README, "Watch it learn"). Children fork from a forkserver that has imported torch and this
library once, so a run starts in a fraction of a second and never inherits the app's threads.

    with ChildRun([LiveSettings(beta=1.0)]) as child:   # one run, or several trained in turn
        for shots in child:                            # a tuple of Snapshots, one per run
            show(shots)                                # child.stop() ends the runs early
    child.models                                       # the finished runs as LoadedModels
"""

import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import time
import traceback
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection

import torch

from vae.live_training import (
    SNAPSHOT_EVERY,
    LiveSettings,
    Snapshot,
    as_loaded,
    in_turn,
    load_digits,
    new_model,
    train_live,
)
from vae.loaded import LoadedModel

NICENESS = 19  # the least CPU a busy machine gives: training waits while a visitor's request runs
JOIN_SECONDS = 5.0  # how long a stopped child may take to send its models and exit before it is killed
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload([__name__])


class ChildFailed(RuntimeError):
    """The child process raised, or died; the message says what it said or how it ended."""


def start_forkserver() -> None:
    """Start the process runs fork from now, so the first run does not wait for torch to import (a few seconds)."""
    multiprocessing.forkserver.ensure_running()


def child_main(settings: Sequence[LiveSettings], every: float, names: Sequence[str], stop, send: Connection) -> None:
    """In the child: train the runs in turn, sending each tuple of snapshots, then the finished models."""
    os.nice(NICENESS)
    torch.set_num_threads(1)
    try:
        digits = load_digits()
        models = [new_model(s) for s in settings]
        last: tuple[Snapshot, ...] = ()
        for last in in_turn([train_live(m, digits, s, stop, every) for m, s in zip(models, settings, strict=True)]):
            send.send_bytes(pickle.dumps(("shots", last)))
        finished = tuple(as_loaded(m, s, shot, digits, name)
                         for m, s, shot, name in zip(models, settings, last, names, strict=True))
        send.send_bytes(pickle.dumps(("models", finished)))
    except Exception as e:  # whatever it is, the parent shows it instead of a silent end
        send.send_bytes(pickle.dumps(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")))
    finally:
        send.close()


class ChildRun:
    """Runs trained in turn in a child process; iterate for their snapshots, then read `models`."""

    def __init__(self, settings: Sequence[LiveSettings], names: Sequence[str] | None = None,
                 every: float = SNAPSHOT_EVERY) -> None:
        names = list(names or [f"trained-here-{i + 1}" for i in range(len(settings))])
        if len(names) != len(settings) or not settings:
            raise ValueError(f"one name per run, and at least one run: {len(settings)} runs, {len(names)} names")
        self.models: tuple[LoadedModel, ...] = ()
        self._stop = CONTEXT.Event()
        self._receive, send = CONTEXT.Pipe(duplex=False)
        # Each run snapshots every `every` / n seconds of its own time, so the tuple changes every `every` seconds.
        self._process = CONTEXT.Process(target=child_main, daemon=True,
                                        args=(list(settings), every / len(settings), names, self._stop, send))
        self._process.start()
        send.close()  # the child holds the only sending end: its exit ends our reading

    def stop(self) -> None:
        """Ask the runs to end after their current step; their last snapshots and the models still come."""
        self._stop.set()

    def __iter__(self) -> Iterator[tuple[Snapshot, ...]]:
        """Each tuple of snapshots as the child sends it; the finished models go to `models` at the end."""
        while True:
            try:
                kind, payload = pickle.loads(self._receive.recv_bytes())  # from our own child: trusted
            except EOFError:
                self._process.join(JOIN_SECONDS)
                raise ChildFailed(f"the training process ended without its results (exit code "
                                  f"{self._process.exitcode})") from None
            if kind == "error":
                raise ChildFailed(payload)
            if kind == "models":
                self.models = payload
                return
            yield payload

    def close(self) -> None:
        """Stop the runs and end the process: at once if it does not finish by itself within JOIN_SECONDS.

        What the child still sends is read and dropped meanwhile, so it never waits on a full pipe.
        """
        self.stop()
        deadline = time.monotonic() + JOIN_SECONDS
        while self._process.is_alive() and time.monotonic() < deadline:
            try:
                if self._receive.poll(0.05):
                    self._receive.recv_bytes()
            except (EOFError, OSError):
                break
        self._process.join(max(0.0, deadline - time.monotonic()))
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._receive.close()

    def __enter__(self) -> "ChildRun":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
