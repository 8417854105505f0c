"""Live training in processes of its own, so that the app's requests keep their CPU.

A helper process (`python -m vae.live_process`, started once by `start_trainer`) imports torch and
loads the digits, then waits on a private socket; each run is a child it forks, which trains at the
lowest CPU priority (nice 19) on one torch thread and streams its snapshots back over its connection.
The kernel then gives the app's requests the CPU first, and no training step ever holds the app's GIL.
Forking from a helper that does nothing else starts a run in a fraction of a second, inherits none of
the app's threads, and never re-imports the app's main module (as multiprocessing's children do).

    with ChildRun([LiveSettings(beta=1.0)]) as child:   # one run, or several trained in turn
        for shots in child:                            # a tuple of Snapshots, one per run
            show(shots)                                # child.stop() ends the runs early
    child.models                                       # the finished runs as LoadedModels
"""

import os
import pickle
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

import torch

from vae.live_training import (
    SNAPSHOT_EVERY,
    LiveDigits,
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
START_SECONDS = 120.0  # how long the helper may take to import torch and say it is ready (a loaded machine)
CLOSE_SECONDS = 5.0  # how long a stopped run may take to send its last messages before it is killed
ROOT = Path(__file__).resolve().parent.parent
STOP = b"stop"


class ChildFailed(RuntimeError):
    """The run raised, or its process died; the message says what it said or how it ended."""


class StopMessage:
    """A run's stop flag: set once the parent has sent STOP on the run's connection (checked every step)."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.stopped = conn, False

    def is_set(self) -> bool:
        """Whether the parent asked the run to stop."""
        if not self.stopped and self.conn.poll():
            self.stopped = self.conn.recv_bytes() == STOP
        return self.stopped


def send(conn: Connection, kind: str, payload: object) -> None:
    """One message to the parent (pickled here, as plain bytes: no shared-memory tensors)."""
    conn.send_bytes(pickle.dumps((kind, payload)))


def run_child(conn: Connection, digits: LiveDigits) -> None:
    """In a forked child: read the runs asked for, train them in turn sending each tuple of snapshots, then the
    finished models; any error is sent as a message."""
    try:
        send(conn, "pid", os.getpid())
        settings, names, every = pickle.loads(conn.recv_bytes())
        models = [new_model(s) for s in settings]
        stop = StopMessage(conn)
        last: tuple[Snapshot, ...] = ()
        for last in in_turn([train_live(m, digits, s, stop, every) for m, s in zip(models, settings, strict=True)]):
            send(conn, "shots", last)
        send(conn, "models", tuple(as_loaded(m, s, shot, digits, name)
                                   for m, s, shot, name in zip(models, settings, last, names, strict=True)))
    except Exception as e:  # whatever it is, the parent shows it instead of a silent end
        send(conn, "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")


def serve(address: str, authkey: bytes) -> None:
    """The helper: load once, then fork one child per connection; exit when the parent closes our stdin."""
    os.nice(NICENESS)  # the children inherit it
    torch.set_num_threads(1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished children
    digits = load_digits()
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()
    with Listener(address, "AF_UNIX", authkey=authkey) as listener:
        print("ready", flush=True)
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError):  # a client that failed the handshake
                continue
            if os.fork() == 0:
                try:
                    run_child(conn, digits)
                finally:
                    os._exit(0)
            conn.close()


class Trainer:
    """The helper process, seen from the app: started once, restarted if it has died."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.address = ""
        self.authkey = secrets.token_bytes(32)

    def start(self) -> None:
        """Start the helper and wait until it listens (nothing if it already runs)."""
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                return
            self.address = str(Path(tempfile.mkdtemp(prefix="vae-live-")) / "socket")
            self.process = subprocess.Popen([sys.executable, "-m", "vae.live_process", self.address], cwd=ROOT,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.process.stdin.write(self.authkey.hex().encode() + b"\n")
            self.process.stdin.flush()  # stdin stays open: the helper exits when we do
            ready = read_line(self.process.stdout, START_SECONDS)
            if ready != b"ready\n":
                self.process.kill()
                raise ChildFailed(f"the training helper did not start (it said {ready!r}, exit code "
                                  f"{self.process.poll()})")

    def connect(self) -> Connection:
        """A connection to a new child of the helper."""
        self.start()
        return Client(self.address, "AF_UNIX", authkey=self.authkey)


def read_line(stream, timeout: float) -> bytes:
    """One line from a pipe, or b"" if none comes within `timeout` seconds."""
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else b""


TRAINER = Trainer()


def start_trainer() -> None:
    """Start the helper now, so the first run does not wait for torch to import (seconds)."""
    TRAINER.start()


class ChildRun:
    """Runs trained in turn in a child of the helper; iterate for their snapshots, then read `models`."""

    def __init__(self, settings: Sequence[LiveSettings], names: Sequence[str] | None = None,
                 every: float = SNAPSHOT_EVERY) -> None:
        names = list(names or [f"trained-here-{i + 1}" for i in range(len(settings))])
        if len(names) != len(settings) or not settings:
            raise ValueError(f"one name per run, and at least one run: {len(settings)} runs, {len(names)} names")
        self.models: tuple[LoadedModel, ...] = ()
        self.conn = TRAINER.connect()
        self.pid: int = self.receive()[1]
        # Each run snapshots every `every` / n seconds of its own time, so the tuple changes every `every` seconds.
        self.conn.send_bytes(pickle.dumps((list(settings), names, every / len(settings))))

    def receive(self) -> tuple[str, object]:
        """The next message of the child; ChildFailed if it sent an error or ended without its results."""
        try:
            kind, payload = pickle.loads(self.conn.recv_bytes())  # from our own helper's child: trusted
        except (EOFError, OSError):
            raise ChildFailed("the training process ended without its results") from None
        if kind == "error":
            raise ChildFailed(payload)
        return kind, payload

    def stop(self) -> None:
        """Ask the runs to end after their current step; their last snapshots and the models still come."""
        try:
            self.conn.send_bytes(STOP)
        except OSError:  # the child has ended already
            pass

    def __iter__(self) -> Iterator[tuple[Snapshot, ...]]:
        """Each tuple of snapshots as the child sends it; the finished models go to `models` at the end."""
        while True:
            kind, payload = self.receive()
            if kind == "models":
                self.models = payload
                return
            yield payload

    def close(self) -> None:
        """Stop the runs and end the child: killed if it has not ended within CLOSE_SECONDS.

        What the child still sends is read and dropped meanwhile, so it never waits on a full pipe.
        """
        self.stop()
        deadline = time.monotonic() + CLOSE_SECONDS
        try:
            while time.monotonic() < deadline:
                if self.conn.poll(0.05):
                    self.conn.recv_bytes()
        except (EOFError, OSError):  # the child has closed its end: it is gone
            pass
        else:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.conn.close()

    def __enter__(self) -> "ChildRun":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(sys.argv[1], bytes.fromhex(sys.stdin.buffer.readline().decode()))
