"""Many users at once: 32 gradio_client sessions on localhost, each dragging a slider and reconstructing.

Each simulated user loops until the time is up: five slider decodes (`/decode`, random values),
then one reconstruction of an example digit (`/reconstruct`). Prints requests per second,
p50/p95/p99 latency per endpoint, the error count, and the server's memory before and after.

    python3 benchmarks/load.py [--users 32] [--seconds 60]
"""

import argparse
import os
import random
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402

from benchmarks.harness import ROOT, rss_mb, serve_app  # noqa: E402

EXAMPLE = str(next(iter(sorted((ROOT / "examples").glob("*.png")))))
DECODES_PER_RECONSTRUCTION = 5
TARGET_DECODE_P95_MS = 250.0


def user(url: str, model: str, n_sliders: int, deadline: float, seed: int,
         times: dict[str, list[float]], errors: list[str], lock: threading.Lock) -> None:
    """One simulated visitor: slider drags and reconstructions until the deadline."""
    rng = random.Random(seed)
    client = Client(url, verbose=False)
    i = 0
    while time.perf_counter() < deadline:
        if i % (DECODES_PER_RECONSTRUCTION + 1) == DECODES_PER_RECONSTRUCTION:
            endpoint, args = "/reconstruct", (model, handle_file(EXAMPLE), None)
        else:
            endpoint, args = "/decode", (model, 0, *[round(rng.uniform(-3, 3), 2) for _ in range(n_sliders)])
        start = time.perf_counter()
        try:
            client.predict(*args, api_name=endpoint)
            with lock:
                times[endpoint].append(1000 * (time.perf_counter() - start))
        except Exception as e:  # every failure counts, whatever its kind
            with lock:
                errors.append(f"{endpoint}: {type(e).__name__}: {str(e)[:200]}")
        i += 1


def percentiles(ms: list[float]) -> str:
    """p50/p95/p99 of a list of milliseconds."""
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:7.1f} ms  p95 {q[94]:7.1f} ms  p99 {q[98]:7.1f} ms"


def main() -> None:
    """Start the app, run the users, print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=32, help="concurrent sessions (default: 32)")
    p.add_argument("--seconds", type=float, default=60.0, help="duration (default: 60)")
    p.add_argument("--model", default="mlp-20d", help="model to drive (default: mlp-20d)")
    args = p.parse_args()

    with serve_app() as (url, proc, _):
        n_sliders = len(Client(url, verbose=False).view_api(print_info=False, return_format="dict")
                        ["named_endpoints"]["/decode"]["parameters"]) - 2
        before = rss_mb(proc.pid)
        times: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.perf_counter() + args.seconds
        threads = [threading.Thread(target=user, args=(url, args.model, n_sliders, deadline, i, times, errors, lock))
                   for i in range(args.users)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 120)
        elapsed = time.perf_counter() - start
        after = rss_mb(proc.pid)

    total = sum(len(v) for v in times.values())
    print(f"{args.users} users for {elapsed:.0f} s against {args.model}: {total} requests, "
          f"{total / elapsed:.1f} requests/s, {len(errors)} errors")
    for endpoint, ms in sorted(times.items()):
        print(f"  {endpoint:13s} n={len(ms):5d}  {percentiles(ms)}")
    decode_p95 = statistics.quantiles(times["/decode"], n=100, method="inclusive")[94] if times["/decode"] else None
    print(f"target: zero errors, /decode p95 under {TARGET_DECODE_P95_MS:.0f} ms -> "
          f"{'met' if not errors and decode_p95 is not None and decode_p95 < TARGET_DECODE_P95_MS else 'NOT met'}")
    print(f"server memory: {before:.0f} MiB before, {after:.0f} MiB after")
    for e in errors[:10]:
        print("  error:", e)


if __name__ == "__main__":
    main()
