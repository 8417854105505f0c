"""Create or update a Hugging Face Space running this app, with exactly the files the app needs.

    hf auth login                                       # once (or set HF_TOKEN)
    python scripts/deploy.py --space-id USER/NAME       # create or update the Space
    python scripts/deploy.py --dry-run                  # list and check what would go up; no token, no network

The upload is built by rules (INCLUDE minus EXCLUDE), not a list of files, so new modules, weights
and static scripts go up by themselves; `check` refuses what must never go up. huggingface_hub's
upload_folder sends large files through LFS/Xet itself, so the repository's git history never matters.
"""

import argparse
import fnmatch
import re
import shutil
import sys
import tempfile
from pathlib import Path, PurePosixPath

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.checkpoint import LFS_POINTER_MAX, is_lfs_pointer  # noqa: E402

# What `python app.py` reads at run time, plus the Space card (README.md) and the LFS rules (Path.glob patterns).
INCLUDE = ("app.py", "requirements.txt", "README.md", ".gitattributes", "vae/**/*", "pictures/**/*", "webapp/**/*",
           "weights/*.safetensors", "weights/page/*.safetensors", "weights/projections/*.safetensors", "examples/**/*",
           "static/**/*")
EXCLUDE = ("*/__pycache__/*", "*.pyc", "*.tmp", "*/.*")  # caches, half-written files, hidden files below the root
# Never uploaded, even if a rule above would match: training runs, datasets, test fixtures, secrets.
FORBIDDEN = ("runs/*", "data/*", "tests/*", ".git/*", ".gradio/*", "*.env", "*.pem", "*.key", "*id_rsa*",
             "*.netrc", "*token*", "*secret*", "*credentials*")
REQUIRED = ("app.py", "requirements.txt", "README.md", ".gitattributes")
BUDGET = 64_000_000  # bytes: the shipped models, their page copies and code maps, room for more (docs/deploy.md)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU_BUILDS = ("torch", "torchvision")  # packages whose default Linux wheel is the CUDA build
MAX_SHORT_DESCRIPTION = 60  # the Hub refuses a longer card


def matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether a repository-relative POSIX path matches any fnmatch pattern (`*` also matches `/`)."""
    return any(fnmatch.fnmatch(path, p) for p in patterns)


def card_images(root: Path) -> set[str]:
    """The pictures the Space card (README.md) shows from the repository: `<img src="docs/x.png">` or `![](x.gif)`."""
    readme = root / "README.md"
    text = readme.read_text() if readme.is_file() else ""
    found = set(re.findall(r'<img[^>]*\ssrc="([^":]+)"', text)) | set(re.findall(r"!\[[^\]]*\]\(([^):]+)\)", text))
    return {f for f in found if (root / f).is_file()}


def upload_files(root: Path = ROOT) -> list[str]:
    """The repository-relative paths the Space gets, sorted: what the app reads, and the pictures its card shows."""
    found = {PurePosixPath(p.relative_to(root)).as_posix() for pattern in INCLUDE for p in root.glob(pattern)
             if p.is_file()}
    return sorted(p for p in found | card_images(root) if not matches(p, EXCLUDE))


def front_matter(readme: str) -> dict:
    """The YAML block between the first two `---` lines of a README: the Space's card."""
    parts = readme.split("---\n", 2)
    if len(parts) < 3 or parts[0].strip():
        raise ValueError("README.md does not start with a --- YAML block (the Space card)")
    return yaml.safe_load(parts[1])


def parse_requirement(line: str) -> Requirement | None:
    """The requirement on one line of a requirements file, or None for comments, blanks and pip options."""
    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith(("#", "-")):
        return None
    try:
        return Requirement(text)
    except InvalidRequirement as e:
        raise ValueError(f"requirements.txt: cannot parse {line!r}: {e}") from e


def requirements(text: str) -> dict[str, Requirement]:
    """Every requirement of a requirements file, by package name."""
    return {r.name: r for r in map(parse_requirement, text.splitlines()) if r}


def card_problems(card: dict, reqs: dict[str, Requirement], files: list[str]) -> list[str]:
    """What would make the Space's build fail or its card invalid."""
    problems = []
    version = str(card.get("sdk_version", ""))
    if card.get("sdk") != "gradio":
        problems.append(f"README card: sdk is {card.get('sdk')!r}, not 'gradio'")
    if "gradio" in reqs and not reqs["gradio"].specifier.contains(version, prereleases=True):
        problems.append(f"README card: sdk_version {version!r} is not admitted by requirements.txt's "
                        f"{reqs['gradio']}; the Space installs gradio=={version} first and the build would fail")
    if card.get("app_file") not in files:
        problems.append(f"README card: app_file {card.get('app_file')!r} is not uploaded")
    if len(str(card.get("short_description", ""))) > MAX_SHORT_DESCRIPTION:
        problems.append(f"README card: short_description is longer than {MAX_SHORT_DESCRIPTION} characters")
    return problems


def check(root: Path, files: list[str], budget: int = BUDGET) -> list[str]:
    """Every reason not to upload `files` from `root`: forbidden or missing files, LFS pointers, size, the card."""
    problems = [f"{f}: must never be uploaded (runs, data, tests or a secret)" for f in files if matches(f, FORBIDDEN)]
    problems += [f"{f}: missing" for f in REQUIRED if f not in files]
    if not any(f.startswith("weights/") for f in files):
        problems.append("weights/: no *.safetensors file; the Space would show no model")
    sizes = {f: (root / f).stat().st_size for f in files}
    problems += [f"{f}: a Git LFS pointer, not the file; run `git lfs pull` first" for f in files
                 if sizes[f] <= LFS_POINTER_MAX and is_lfs_pointer((root / f).read_bytes())]
    if sum(sizes.values()) > budget:
        problems.append(f"total {sum(sizes.values()):,} bytes is over the budget of {budget:,}")
    if "README.md" in files and "requirements.txt" in files:
        readme, reqs = (root / "README.md").read_text(), (root / "requirements.txt").read_text()
        problems += card_problems(front_matter(readme), requirements(reqs), files)
    return problems


def tested_version(req: Requirement) -> Version:
    """The version a range was tested with: the one its `<=` or `==` clause names."""
    named = [Version(s.version) for s in req.specifier if s.operator in ("<=", "==")]
    if not named:
        raise ValueError(f"requirements.txt: {req} names no tested version (add `<=VERSION`) to pin its CPU build")
    return min(named)


def cpu_requirements(text: str) -> str:
    """requirements.txt for CPU-only hardware: torch and torchvision from PyTorch's CPU wheel index.

    A local version label such as +cpu can only be pinned exactly (PEP 440), so each becomes
    `==<tested version>+cpu`: pip then takes the CPU wheel and never PyPI's CUDA build.
    """
    lines = [f"# CPU-only hardware: torch and torchvision from {CPU_INDEX} (written by scripts/deploy.py --cpu)",
             f"--extra-index-url {CPU_INDEX}"]
    for line in text.splitlines():
        req = parse_requirement(line)
        lines.append(f"{req.name}=={tested_version(req)}+cpu" if req and req.name in CPU_BUILDS else line)
    return "\n".join(lines) + "\n"


def stage(root: Path, files: list[str], dest: Path, cpu: bool = False) -> Path:
    """Copy `files` from `root` into `dest`, as the Space will hold them (requirements.txt rewritten with `cpu`)."""
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / f, dest / f)
    if cpu:
        (dest / "requirements.txt").write_text(cpu_requirements((root / "requirements.txt").read_text()))
    return dest


def listing(folder: Path, files: list[str]) -> str:
    """The files with their sizes, and the total against the budget."""
    sizes = {f: (folder / f).stat().st_size for f in files}
    rows = [f"{size:>12,}  {f}" for f, size in sizes.items()]
    total = sum(sizes.values())
    rows.append(f"{total:>12,}  bytes in {len(files)} files ({total / 1e6:.1f} MB; budget {BUDGET / 1e6:.0f} MB)")
    return "\n".join(rows)


def upload(folder: Path, space_id: str, private: bool) -> str:
    """Create the Space if needed and make its files exactly those in `folder`; returns the Space's URL."""
    from huggingface_hub import HfApi, get_token

    if get_token() is None:
        sys.exit("no Hugging Face token: run `hf auth login`, or set HF_TOKEN to a token with write access")
    api = HfApi()
    url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    # delete_patterns: files the Space holds from an earlier deploy but this one lacks are removed.
    api.upload_folder(repo_id=url.repo_id, folder_path=folder, repo_type="space", delete_patterns="*",
                      commit_message="Deploy with scripts/deploy.py")
    return f"https://huggingface.co/spaces/{url.repo_id}"


def main(argv: list[str] | None = None) -> None:
    """CLI: check the upload, then print it (--dry-run), write it (--out) or send it to a Space."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space-id", help="USER/NAME of the Space to create or update (needed unless --dry-run/--out)")
    p.add_argument("--dry-run", action="store_true", help="print and check what would be uploaded; upload nothing")
    p.add_argument("--cpu", action="store_true",
                   help="for CPU-only hardware: the uploaded requirements.txt pulls torch's CPU build")
    p.add_argument("--private", action="store_true", help="create the Space as private")
    p.add_argument("--out", type=Path, help="write the files into this empty folder instead of uploading")
    args = p.parse_args(argv)
    if not (args.dry_run or args.out or args.space_id):
        p.error("give --space-id USER/NAME (or --dry-run, or --out DIR)")

    files = upload_files(ROOT)
    if problems := check(ROOT, files):
        sys.exit("not deploying:\n" + "\n".join(f"  - {m}" for m in problems))
    with tempfile.TemporaryDirectory(prefix="vae-space-") as tmp:
        if args.out and any(args.out.iterdir() if args.out.is_dir() else []):
            sys.exit(f"--out {args.out} is not empty")
        folder = stage(ROOT, files, args.out or Path(tmp), args.cpu)
        torch_line = requirements((folder / "requirements.txt").read_text())["torch"]
        action = "Would upload" if args.dry_run else f"Wrote into {args.out}" if args.out else "Uploading"
        print(f"{action} for {args.space_id or 'a Space'} (requirements.txt: {torch_line}):\n"
              f"{listing(folder, files)}\nchecks: passed")
        if args.dry_run or args.out:
            return
        print(f"done: {upload(folder, args.space_id, args.private)}")


if __name__ == "__main__":
    main()
