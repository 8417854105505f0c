"""Does a live training run hurt other visitors? `/reconstruct` latency, idle vs while "Watch it learn" trains.

Starts the app once. Each repeat measures one client's back-to-back `/reconstruct` calls for `--seconds`
with nothing else running, then for `--seconds` while another client trains a model through `/train`
(time limit `--seconds`, reading its stream as the page does). Prints p50/p95 per phase, the ratio of the
p95s per repeat, their median and range over the repeats, the run's steps, and the machine's load average
(on a shared machine, other jobs' load shows up in both phases).

    python benchmarks/live_training.py [--seconds 60] [--repeats 3] [--model conv-32d]
"""

import argparse
import json
import os
import ssl
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402

from benchmarks.harness import ROOT, serve_app  # noqa: E402

EXAMPLE = str(next(iter(sorted((ROOT / "examples").glob("*.png")))))
TARGET_RATIO = 2.0  # the bound: p95 while training at most twice the idle p95
SHARED_SSL = ssl.create_default_context()  # see benchmarks/load.py: one SSL context, not one per request


def reconstruct_ms(client: Client, model: str, seconds: float) -> list[float]:
    """Milliseconds of each back-to-back /reconstruct call for `seconds`."""
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        client.predict(model, handle_file(EXAMPLE), None, api_name="/reconstruct")
        times.append(1000 * (time.perf_counter() - start))
    return times


def train(url: str, seconds: float, started: threading.Event, result: dict) -> None:
    """One visitor's run through /train; `started` is set at its first update; its last update goes to `result`."""
    job = Client(url, verbose=False, ssl_verify=SHARED_SSL).submit(2, 1.0, 0, seconds, api_name="/train")
    for _status, data, *_ in job:
        if data and not started.is_set():
            started.set()
        result["last"] = data or result.get("last")
    started.set()


def p(ms: list[float], q: int) -> float:
    """The q-th percentile."""
    return statistics.quantiles(ms, n=100, method="inclusive")[q - 1]


def load() -> str:
    """The machine's 1-minute load average."""
    return Path("/proc/loadavg").read_text().split()[0]


def repeat(url: str, client: Client, model: str, seconds: float) -> tuple[float, float]:
    """One idle phase and one training phase; prints both and returns their p95s."""
    idle = reconstruct_ms(client, model, seconds)
    print(f"  idle      n={len(idle):4d}  p50 {p(idle, 50):7.1f} ms  p95 {p(idle, 95):7.1f} ms  load {load()}")
    started, result = threading.Event(), {}
    trainer = threading.Thread(target=train, args=(url, seconds, started, result))
    trainer.start()
    started.wait(120)  # the run's first update: it trains from here on
    busy = reconstruct_ms(client, model, seconds)
    trainer.join()
    run = json.loads(result["last"])["runs"][0] if result.get("last") else {"step": 0, "seconds": 0}
    print(f"  training  n={len(busy):4d}  p50 {p(busy, 50):7.1f} ms  p95 {p(busy, 95):7.1f} ms  load {load()}  "
          f"(the run: {run['step']:,} steps in {run['seconds']:.0f} s)")
    print(f"  p95 training / idle = {p(busy, 95) / p(idle, 95):.2f}")
    return p(idle, 95), p(busy, 95)


def spread(values: list[float], unit: str = "") -> str:
    """Median and range."""
    return f"median {statistics.median(values):.2f}{unit}, range {min(values):.2f}-{max(values):.2f}{unit}"


def main() -> None:
    """Start the app, warm it up, run the repeats, print the summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each phase (default: 60)")
    ap.add_argument("--repeats", type=int, default=3, help="idle + training pairs (default: 3)")
    ap.add_argument("--model", default="conv-32d", help="model /reconstruct uses (default: conv-32d)")
    args = ap.parse_args()
    with serve_app() as (url, _, startup):
        print(f"app ready in {startup:.0f} s on {os.cpu_count()} CPUs; /reconstruct of {Path(EXAMPLE).name} "
              f"with {args.model}, {args.seconds:.0f} s per phase")
        client = Client(url, verbose=False, ssl_verify=SHARED_SSL)
        warm = {}
        train(url, 5, threading.Event(), warm)  # the trainer's helper process is up before anything is timed
        reconstruct_ms(client, args.model, 3)
        pairs = []
        for i in range(args.repeats):
            print(f"repeat {i + 1}:")
            pairs.append(repeat(url, client, args.model, args.seconds))
        ratios = [busy / idle for idle, busy in pairs]
        print(f"/reconstruct p95 over {len(pairs)} repeats: idle {spread([i for i, _ in pairs], ' ms')}; "
              f"training {spread([b for _, b in pairs], ' ms')}")
        print(f"p95 training / idle: {spread(ratios)}; target <= {TARGET_RATIO:g}: "
              f"{'met' if max(ratios) <= TARGET_RATIO else 'NOT met'}")


if __name__ == "__main__":
    main()
