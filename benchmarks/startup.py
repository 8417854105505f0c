"""Does a change make the app slower to start? Seconds from `python app.py` to its first HTTP 200, per checkout.

Starts the app from each given checkout in turn (interleaved, so load on the machine hits both alike)
and prints the median and range over the repeats.

    python3 benchmarks/startup.py /work/main . [--repeats 5]
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import serve_app  # noqa: E402


def start_once(checkout: Path, tries: int = 3) -> float:
    """Seconds to the first HTTP 200 of one start of the app in `checkout`; a start that lost its port to another
    job's server is tried again, up to `tries` times in all."""
    for _ in range(tries - 1):
        try:
            return startup_seconds(checkout)
        except RuntimeError as e:
            if "no port stayed free" not in str(e):
                raise
    return startup_seconds(checkout)


def startup_seconds(checkout: Path) -> float:
    """Seconds from starting `python app.py` in `checkout` to its first HTTP 200."""
    with serve_app(cwd=checkout.resolve()) as (_, _, startup):
        return startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", type=Path, help="folders holding app.py")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    seconds: dict[Path, list[float]] = {c: [] for c in args.checkouts}
    for _ in range(args.repeats):
        for checkout in args.checkouts:
            seconds[checkout].append(start_once(checkout))
    for checkout, s in seconds.items():
        print(f"{str(checkout):<40} start-up to first HTTP 200: median {statistics.median(s):.2f} s "
              f"(range {min(s):.2f}-{max(s):.2f}, n={len(s)})")


if __name__ == "__main__":
    main()
