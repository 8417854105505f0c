"""scripts/deploy.py: what goes up to a Space, the checks that refuse a bad upload, the CPU requirements, the card."""

import importlib.metadata
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from gradio_client import handle_file
from packaging.requirements import Requirement
from packaging.version import Version

from benchmarks.harness import serve_app
from scripts import deploy
from tests.helpers import EXPECTED_ENDPOINTS, api_client, lfs_pointer

ROOT = Path(__file__).parents[2]
WEIGHTS = ROOT / "weights"


def make_repo(root: Path, files: list[str]) -> Path:
    """A folder holding `files` (copied from this repository where they exist here, else a few bytes)."""
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes((ROOT / f).read_bytes() if (ROOT / f).is_file() else b"x")
    return root


RUNTIME = ["app.py", "requirements.txt", "README.md", ".gitattributes", "vae/__init__.py", "vae/new_module.py",
           "pictures/__init__.py", "webapp/views/new_view.py", "vae/sub/data.json", "weights/conv-32d.safetensors",
           "weights/page/conv-32d.safetensors", "examples/a.png", "examples/fashion-mnist/b.png", "static/decoder.js",
           "static/css/page.css", "docs/overview.png"]  # the last: a picture the Space card (README.md) shows
NOT_UPLOADED = ["train.py", "DEVELOPERS.md", "pyproject.toml", "requirements-dev.txt", "vae/__pycache__/x.pyc",
                "vae/.hidden.py", "static/.DS_Store", "weights/.conv-32d.safetensors.abc.tmp", "weights/notes.txt",
                "weights/page/notes.txt",
                "runs/conv-32d/resume.safetensors", "data/MNIST/raw/t10k-images-idx3-ubyte", "tests/data/big.npz",
                "benchmarks/harness.py", "scripts/deploy.py", "docs/samples.png", ".env", ".venv/lib/x.py",
                ".git/config", ".gradio/cached.png"]


def test_the_upload_is_the_runtime_files_and_nothing_else(tmp_path: Path) -> None:
    root = make_repo(tmp_path, RUNTIME + NOT_UPLOADED)
    assert deploy.upload_files(root) == sorted(RUNTIME)


def test_this_repository_passes_the_checks_within_the_budget() -> None:
    files = deploy.upload_files(ROOT)
    assert deploy.check(ROOT, files) == []
    assert {f"weights/{p.name}" for p in WEIGHTS.glob("*.safetensors")} <= set(files)
    pages = {f"weights/page/{p.name}" for p in (WEIGHTS / "page").glob("*.safetensors")}  # what the page fetches
    assert pages and pages <= set(files)
    assert {str(p.relative_to(ROOT)) for wing in ("vae", "pictures", "webapp") for p in (ROOT / wing).rglob("*.py")
            if "__pycache__" not in p.parts} <= set(files)
    assert {p.split("/")[0] for p in files} <= {"app.py", "requirements.txt", "README.md", ".gitattributes", "vae",
                                                 "pictures", "webapp", "weights", "examples", "static", "docs"}
    assert {f for f in files if f.startswith("docs/")} == deploy.card_images(ROOT)  # the card's pictures show
    assert sum((ROOT / f).stat().st_size for f in files) <= deploy.BUDGET


@pytest.mark.parametrize("bad", ["weights/my-token.safetensors", "examples/credentials.png", "static/server.pem",
                                 "vae/secret_key.py", "tests/data/mnist-sample.npz", "runs/a/resume.safetensors"])
def test_forbidden_files_are_refused(tmp_path: Path, bad: str) -> None:
    root = make_repo(tmp_path, RUNTIME + [bad])
    assert any(bad in m and "never" in m for m in deploy.check(root, [*deploy.upload_files(root), bad]))


def test_lfs_pointers_missing_files_and_size_are_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path, RUNTIME)
    (root / "weights" / "conv-32d.safetensors").write_bytes(lfs_pointer(WEIGHTS / "conv-32d.safetensors"))
    (root / ".gitattributes").unlink()
    problems = deploy.check(root, deploy.upload_files(root), budget=100)
    assert any("conv-32d.safetensors" in m and "Git LFS pointer" in m and "git lfs pull" in m for m in problems)
    assert ".gitattributes: missing" in problems
    assert any("over the budget of 100" in m for m in problems)


def test_a_card_the_space_cannot_build_is_refused(tmp_path: Path) -> None:
    root = make_repo(tmp_path, RUNTIME)
    readme = (root / "README.md").read_text()
    card = deploy.front_matter(readme)
    (root / "README.md").write_text(readme.replace(f"sdk_version: {card['sdk_version']}", "sdk_version: 5.49.1")
                                    .replace(card["short_description"], "x" * 61))
    problems = deploy.check(root, deploy.upload_files(root))
    assert any("sdk_version '5.49.1' is not admitted" in m for m in problems)
    assert any("short_description is longer than 60" in m for m in problems)


def test_the_readme_is_a_valid_spaces_card() -> None:
    card = yaml.safe_load((ROOT / "README.md").read_text().split("---\n")[1])
    assert card["sdk"] == "gradio"
    gradio = deploy.requirements((ROOT / "requirements.txt").read_text())["gradio"]
    assert Version(card["sdk_version"]) in gradio.specifier, "the Space installs gradio==sdk_version first"
    assert card["sdk_version"] == importlib.metadata.version("gradio"), "the card names the gradio we test with"
    assert card["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}", "quoted: 3.10 is not 3.1"
    assert (ROOT / card["app_file"]).is_file() and card["app_file"] in deploy.upload_files(ROOT)
    assert isinstance(card["short_description"], str) and 0 < len(card["short_description"]) <= 60
    assert isinstance(card["tags"], list) and card["tags"] and all(isinstance(t, str) for t in card["tags"])
    assert card["title"] and card["emoji"] and card["license"] == "mit"


def test_cpu_requirements_take_torch_from_the_cpu_index() -> None:
    repo = (ROOT / "requirements.txt").read_text()
    produced = deploy.cpu_requirements(repo)
    lines = [line.strip() for line in produced.splitlines()]
    assert f"--extra-index-url {deploy.CPU_INDEX}" in lines
    reqs, original = deploy.requirements(produced), deploy.requirements(repo)
    for name in ("torch", "torchvision"):
        tested = deploy.tested_version(original[name])
        cpu, cuda = Version(f"{tested}+cpu"), Version(str(tested))
        assert reqs[name].specifier.contains(cpu) and not reqs[name].specifier.contains(cuda)
        assert cpu.public in original[name].specifier  # the same version the repo's range admits
    assert {n: str(r) for n, r in reqs.items() if n not in deploy.CPU_BUILDS} == {
        n: str(r) for n, r in original.items() if n not in deploy.CPU_BUILDS}


def test_the_repo_requirements_stay_installable_here() -> None:
    """Every requirement of requirements.txt admits the version installed on this machine."""
    for name, req in deploy.requirements((ROOT / "requirements.txt").read_text()).items():
        if req.marker is None or req.marker.evaluate():
            assert Version(importlib.metadata.version(name)) in req.specifier, f"{name}: {req}"


def test_a_range_without_a_tested_version_cannot_be_pinned_to_cpu() -> None:
    with pytest.raises(ValueError, match="names no tested version"):
        deploy.tested_version(Requirement("torch>=2.4"))
    assert str(deploy.tested_version(Requirement("torch>=2.4,<=2.14.1"))) == "2.14.1"


def test_dry_run_lists_and_checks_without_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no cached login either
    deploy.main(["--dry-run", "--cpu"])
    out = capsys.readouterr().out
    files = deploy.upload_files(ROOT)
    assert all(f in out for f in files) and "checks: passed" in out
    assert f"bytes in {len(files)} files" in out and "torch==" in out and "+cpu" in out
    assert "+cpu" not in (ROOT / "requirements.txt").read_text()  # the produced file went to a temporary folder
    with pytest.raises(SystemExit, match="hf auth login"):
        deploy.main(["--space-id", "someone/vae"])


def test_out_writes_exactly_the_upload(tmp_path: Path) -> None:
    deploy.main(["--out", str(tmp_path / "space"), "--cpu"])
    written = sorted(p.relative_to(tmp_path / "space").as_posix() for p in (tmp_path / "space").rglob("*")
                     if p.is_file())
    assert written == deploy.upload_files(ROOT)
    assert "+cpu" in (tmp_path / "space" / "requirements.txt").read_text()
    assert "+cpu" not in (ROOT / "requirements.txt").read_text()


def test_the_app_starts_from_exactly_the_uploaded_files(tmp_path: Path) -> None:
    """The staged folder alone, in this environment (a fresh venv too: scripts/space_rehearsal.py)."""
    app = deploy.stage(ROOT, deploy.upload_files(ROOT), tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GRADIO_SERVER_NAME": "127.0.0.1"}  # nothing of this repo
    with serve_app(cwd=app, env=env) as (url, _, _):
        client = api_client(url)
        assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == EXPECTED_ENDPOINTS
        *_, score = client.predict("conv-32d", handle_file(str(app / "examples/digit-7-1-test0000.png")), None,
                                   api_name="/reconstruct")
        assert "nats" in score
        page = (app / "weights/page/conv-32d.safetensors").resolve()
        assert f"file={page}" in urllib.request.urlopen(url).read().decode()  # the page fetches the smaller weights
