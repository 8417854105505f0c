"""Rehearse a Hugging Face Space on this machine: `python scripts/space_rehearsal.py`.

Copies exactly the files `scripts/deploy.py` would upload into an empty folder, creates a fresh
virtual environment, installs `gradio[oauth,mcp]==<sdk_version>` and then requirements.txt (the
order of a Space's build), starts `python app.py` with a Space's environment (SYSTEM=spaces,
GRADIO_SERVER_NAME=0.0.0.0, GRADIO_SERVER_PORT=7860), and checks it as a visitor would: HTTP 200,
the API's named endpoints, one /reconstruct of an example, and the page in headless Chromium with
the decoded digit showing. Prints install time, venv size, time to first HTTP 200 and memory;
deletes the folder and the venv (several GB with the CUDA build of torch) when done.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import chromium, free_port, open_app, rss_mb, serve_app  # noqa: E402
from scripts.deploy import ROOT, check, front_matter, stage, upload_files  # noqa: E402

# A Space's environment. GRADIO_SSR_MODE: Spaces set it to "true", as public Space repositories that turn
# it off report (not verifiable from here); app.py's explicit ssr_mode=False must win.
SPACE_ENV = {"SYSTEM": "spaces", "SPACE_ID": "rehearsal/vae-latent-space", "GRADIO_SERVER_NAME": "0.0.0.0",
             "GRADIO_SSR_MODE": "true"}
EXAMPLE = "examples/digit-7-1-test0000.png"
# The page's Spaces badge asks huggingface.co about SPACE_ID; the rehearsal's Space does not exist (and this
# machine cannot reach huggingface.co), so that one console error is expected here and only here.
NO_SUCH_SPACE = "Space not found"


def timed_run(cmd: list[str]) -> float:
    """Run a command (its output shown only if it fails); seconds it took."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def folder_bytes(folder: Path) -> int:
    """Bytes of all files below `folder`, not following symlinks."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def children(pid: int) -> list[int]:
    """The process ids of a process's children (a Node server, when Gradio renders server-side)."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    return rss_mb(pid) + sum(process_tree_rss_mb(c) for c in children(pid))


def install(venv: Path, app: Path, sdk_version: str) -> float:
    """A fresh venv with gradio==sdk_version (and `spaces`, which its Spaces reloader imports), then the app's
    requirements.txt, as a Space's build does; seconds."""
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir", "-q"]
    seconds = timed_run([sys.executable, "-m", "venv", str(venv)])
    seconds += timed_run([*pip, f"gradio[oauth,mcp]=={sdk_version}", "spaces"])
    return seconds + timed_run([*pip, "-r", str(app / "requirements.txt")])


def check_api(url: str) -> str:
    """The named endpoints in gradio_client's view, and one /reconstruct of an example; returns its score text."""
    from gradio_client import handle_file

    from tests.helpers import EXPECTED_ENDPOINTS, api_client

    client = api_client(url)
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    if named != EXPECTED_ENDPOINTS:
        sys.exit(f"endpoints differ: missing {EXPECTED_ENDPOINTS - named}, unexpected {named - EXPECTED_ENDPOINTS}")
    seen, recon, posterior, score = client.predict("conv-32d", handle_file(str(ROOT / EXAMPLE)), None,
                                                   api_name="/reconstruct")
    if "nats" not in score or not all(Path(p).stat().st_size > 0 for p in (seen, recon, posterior)):
        sys.exit(f"/reconstruct gave no score or empty images: {score!r}")
    return f"{len(named)} named endpoints, as expected\n/reconstruct of {EXAMPLE}: {score}"


def check_page(url: str, shots: Path) -> None:
    """The page at desktop and phone size shows the decoded digit, without console errors; screenshots."""
    shots.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page, errors = open_app(browser, url)  # open_app waits until the page has decoded and drawn a digit
        page.screenshot(path=str(shots / "space-desktop.png"), full_page=True)
        phone, phone_errors = open_app(browser, url, phone=True)
        phone.screenshot(path=str(shots / "space-phone.png"))
        errors += phone_errors
    if errors := [e for e in errors if NO_SUCH_SPACE not in e]:
        sys.exit("console errors on the page:\n" + "\n".join(errors))


def main(argv: list[str] | None = None) -> None:
    """CLI: stage, install, start, check, report, clean up."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=7860, help="the port a Space serves on (default: 7860)")
    p.add_argument("--shots", type=Path, default=Path(tempfile.gettempdir()) / "space-rehearsal-shots",
                   help="folder for the page's screenshots")
    p.add_argument("--keep", action="store_true", help="keep the folder and the venv (printed) for a look")
    args = p.parse_args(argv)

    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", args.port)) == 0:
            print(f"port {args.port} is taken on this machine; serving on another (nothing else changes)")
            args.port = free_port()
    files = upload_files(ROOT)
    if problems := check(ROOT, files):
        sys.exit("the upload does not pass deploy's checks:\n" + "\n".join(problems))
    work = Path(tempfile.mkdtemp(prefix="vae-space-rehearsal-"))
    try:
        app = stage(ROOT, files, work / "app")
        sdk_version = str(front_matter((app / "README.md").read_text())["sdk_version"])
        print(f"staged {len(files)} files, {folder_bytes(app) / 1e6:.1f} MB, in {app}")
        seconds = install(work / "venv", app, sdk_version)
        print(f"install time: {seconds:.1f} s (venv, gradio[oauth,mcp]=={sdk_version} spaces, requirements.txt)")
        print(f"venv size: {folder_bytes(work / 'venv') / 1e9:.2f} GB")
        env = {"PATH": f"{work / 'venv' / 'bin'}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"),
               "LANG": "C.UTF-8", **SPACE_ENV}
        with serve_app(args.port, cwd=app, python=str(work / "venv" / "bin" / "python"), env=env) as (url, proc, t):
            print(f"time to first HTTP 200: {t:.1f} s (python app.py, SYSTEM=spaces, port {args.port})")
            print(check_api(url))
            check_page(url, args.shots)
            print(f"page: the decoded digit shows at desktop and phone size; screenshots in {args.shots}")
            print(f"RSS after these checks: {process_tree_rss_mb(proc.pid):.0f} MiB; child processes (SSR's Node "
                  f"server): {len(children(proc.pid))}")
        print("rehearsal: passed")
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
