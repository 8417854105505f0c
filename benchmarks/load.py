"""Many users at once: 32 gradio_client sessions on localhost, each dragging a slider and reconstructing.

Each simulated user loops until the time is up: five slider decodes (`/decode`, random values),
then one reconstruction of an example digit (`/reconstruct`). Prints requests per second,
p50/p95/p99 latency per endpoint, the error count, and the server's memory before and after.

    python3 benchmarks/load.py [--users 32 8] [--seconds 60]
"""

import argparse
import os
import random
import ssl
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client, handle_file  # noqa: E402

from benchmarks.harness import ROOT, cpu_seconds, rss_mb, serve_app  # noqa: E402

EXAMPLE = str(next(iter(sorted((ROOT / "examples").glob("*.png")))))
DECODES_PER_RECONSTRUCTION = 5
TARGET_DECODE_P95_MS = 250.0
# gradio_client makes a new httpx client for every request, and each one loads the system's CA
# certificates into a fresh SSL context (~15 ms of CPU, even for plain http). Sharing one
# context keeps the load generator from starving the server it measures on a small machine.
SHARED_SSL = ssl.create_default_context()


def user(url: str, model: str, n_sliders: int, deadline: float, seed: int,
         times: dict[str, list[float]], errors: list[str], lock: threading.Lock) -> None:
    """One simulated visitor: slider drags and reconstructions until the deadline."""
    rng = random.Random(seed)
    client = Client(url, verbose=False, ssl_verify=SHARED_SSL)  # httpx takes a context where a bool goes
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


def run(url: str, pid: int, model: str, n_sliders: int, users: int, seconds: float) -> None:
    """One load level: `users` sessions for `seconds`; print its figures."""
    before, server_cpu, client_cpu = rss_mb(pid), cpu_seconds(pid), cpu_seconds(os.getpid())
    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=user, args=(url, model, n_sliders, deadline, i, times, errors, lock))
               for i in range(users)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - start
    after = rss_mb(pid)
    server_cpu, client_cpu = cpu_seconds(pid) - server_cpu, cpu_seconds(os.getpid()) - client_cpu

    total = sum(len(v) for v in times.values())
    print(f"{users} users for {elapsed:.0f} s against {model}: {total} requests, "
          f"{total / elapsed:.1f} requests/s, {len(errors)} errors")
    for endpoint, ms in sorted(times.items()):
        print(f"  {endpoint:13s} n={len(ms):5d}  {percentiles(ms)}")
    decode_p95 = statistics.quantiles(times["/decode"], n=100, method="inclusive")[94] if times["/decode"] else None
    print(f"  target: zero errors, /decode p95 under {TARGET_DECODE_P95_MS:.0f} ms -> "
          f"{'met' if not errors and decode_p95 is not None and decode_p95 < TARGET_DECODE_P95_MS else 'NOT met'}")
    print(f"  server memory: {before:.0f} MiB before, {after:.0f} MiB after")
    print(f"  CPU per request: server {1000 * server_cpu / max(total, 1):.1f} ms, "
          f"the {users} clients {1000 * client_cpu / max(total, 1):.1f} ms "
          f"({server_cpu:.0f} s and {client_cpu:.0f} s of {os.cpu_count()} cores x {elapsed:.0f} s)")
    for e in errors[:10]:
        print("  error:", e)


def main() -> None:
    """Start the app once, run each load level on it, print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, nargs="+", default=[32], help="concurrent sessions, one run each (default: 32)")
    p.add_argument("--seconds", type=float, default=60.0, help="duration of each run (default: 60)")
    p.add_argument("--model", default="conv-32d", help="model to drive (default: conv-32d, as in docs/benchmarks.md)")
    args = p.parse_args()

    with serve_app() as (url, proc, _):
        n_sliders = len(Client(url, verbose=False).view_api(print_info=False, return_format="dict")
                        ["named_endpoints"]["/decode"]["parameters"]) - 2
        for users in args.users:
            run(url, proc.pid, args.model, n_sliders, users, args.seconds)


if __name__ == "__main__":
    main()
