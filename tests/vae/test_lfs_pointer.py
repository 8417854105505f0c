"""A clone made without Git LFS holds pointer files instead of weights: every entry point says so and how to fix it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import train as train_cli
from tests.helpers import PAGE_TEXT, lfs_pointer
from vae import evaluate
from vae.checkpoint import CheckpointError, is_lfs_pointer, load_tensors
from vae.loaded import load_model, load_models

ROOT = Path(__file__).parents[2]
WEIGHTS = ROOT / "weights"
FIX = ("Git LFS pointer", "not the weights", "install git-lfs", "git lfs install", "git lfs pull")


def assert_says_lfs(message: str, path: Path) -> None:
    assert str(path) in message
    for words in FIX:
        assert words in message, f"{words!r} missing from: {message}"


@pytest.fixture
def pointer(tmp_path: Path) -> Path:
    path = tmp_path / "conv-32d.safetensors"
    path.write_bytes(lfs_pointer(WEIGHTS / "conv-32d.safetensors"))
    return path


def test_loading_a_pointer_says_it_is_one_and_how_to_fix_it(pointer: Path) -> None:
    for load in (load_model, load_tensors):
        with pytest.raises(CheckpointError) as e:
            load(pointer)
        assert_says_lfs(str(e.value), pointer)
        assert "not a safetensors file" not in str(e.value)


def test_only_pointers_count_as_pointers(pointer: Path) -> None:
    assert is_lfs_pointer(pointer.read_bytes())
    assert not is_lfs_pointer((WEIGHTS / "mlp-2d.safetensors").read_bytes())
    assert not is_lfs_pointer(pointer.read_bytes() + b"x" * 1024)  # a long text that merely starts the same way
    assert not is_lfs_pointer(b"version 1\n")


def test_the_app_loads_the_real_files_and_reports_the_pointers(pointer: Path) -> None:
    (pointer.parent / "mlp-2d.safetensors").symlink_to(WEIGHTS / "mlp-2d.safetensors")
    models, problems = load_models(pointer.parent)
    assert list(models) == ["mlp-2d"]
    assert len(problems) == 1
    assert_says_lfs(problems[0], pointer)


def test_the_page_shows_the_pointer_message(tmp_path: Path) -> None:
    """A clone without LFS (every file a pointer), and one where only some files were pulled."""
    clone, partial = tmp_path / "clone", tmp_path / "partial"
    for folder in (clone, partial):
        folder.mkdir()
        for real in WEIGHTS.glob("*.safetensors"):
            (folder / real.name).write_bytes(lfs_pointer(real))
    (partial / "mlp-2d.safetensors").unlink()
    (partial / "mlp-2d.safetensors").symlink_to(WEIGHTS / "mlp-2d.safetensors")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", PAGE_TEXT, str(clone), str(partial)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    pages = {folder: "\n".join(texts) for folder, texts in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    n = len(list(WEIGHTS.glob("*.safetensors")))
    assert pages[str(clone)].count("is a Git LFS pointer") == n
    assert_says_lfs(pages[str(clone)], clone / "conv-32d.safetensors")
    assert "Some weights files could not be loaded" in pages[str(partial)]
    assert pages[str(partial)].count("is a Git LFS pointer") == n - 1
    assert_says_lfs(pages[str(partial)], partial / "conv-32d.safetensors")
    assert "mlp-2d.safetensors is a Git LFS pointer" not in pages[str(partial)]


def test_train_resume_from_a_pointer_says_so(tmp_path: Path, sample_dir: Path) -> None:
    resume = tmp_path / "runs" / "t" / "resume.safetensors"
    resume.parent.mkdir(parents=True)
    resume.write_bytes(lfs_pointer(WEIGHTS / "mlp-2d.safetensors"))
    with pytest.raises(SystemExit) as e:
        train_cli.main(["--data-dir", str(sample_dir), "--no-download", "--name", "t", "--resume",
                        "--run-dir", str(tmp_path / "runs")])
    assert str(e.value.code).startswith("cannot resume:")
    assert_says_lfs(str(e.value.code), resume)


def test_evaluate_on_a_pointer_says_so(pointer: Path) -> None:
    with pytest.raises(SystemExit) as e:
        evaluate.main([str(pointer), "--no-download"])
    assert str(e.value.code).startswith("cannot evaluate:")
    assert_says_lfs(str(e.value.code), pointer)
