"""Weights files: safetensors with JSON metadata, written atomically, verified on load.

Safetensors holds raw tensors and a JSON header, nothing executable, so loading a file from
anyone is safe (unlike torch.load's pickle). The header's metadata carries the model config,
so `vae.loaded.load_model(path)` rebuilds the network from the file alone, and a SHA-256 of
the tensors, so a file that was altered after it was written is refused.
"""

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import safetensors.torch
import torch
from torch import Tensor

FORMAT = "vae-demo/1"
MAX_HEADER = 100_000_000
TRAIN_HINT = "Train one with `python train.py` (see README.md) or point to another file."
# A clone made without Git LFS holds, in place of each large file, a small text "pointer"
# that starts with this line (the spec caps pointers at 1,024 bytes).
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
LFS_POINTER_MAX = 1024


class CheckpointError(ValueError):
    """A weights file that cannot be used; the message says why and what to do."""


def tensors_sha256(tensors: dict[str, Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of all tensors, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; weights are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_tensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict) -> None:
    """Atomically write tensors plus JSON metadata (with the tensors' SHA-256) as safetensors."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = {"format": FORMAT, "sha256": tensors_sha256(tensors), "metadata": json.dumps(metadata)}
    atomic_write(path, safetensors.torch.save(tensors, metadata=header))


def is_lfs_pointer(data: bytes) -> bool:
    """Whether a file's bytes are a Git LFS pointer standing in for the real content."""
    return len(data) <= LFS_POINTER_MAX and data.startswith(LFS_POINTER)


def read_header(path: str | Path) -> tuple[int, dict]:
    """A weights file's data start (8 + header length) and its whole JSON header (each tensor's dtype, shape and
    offsets, and "__metadata__"), read without the tensors; CheckpointError says what is wrong with the file."""
    with open(path, "rb") as f:
        data = f.read(8)
        if len(data) == 8:
            data += f.read(min(struct.unpack("<Q", data)[0], MAX_HEADER))
    return 8 + len(data[8:]), _parse_header(Path(path), data)


def _parse_header(path: Path, data: bytes) -> dict:
    """The JSON header at the start of `data` (a weights file, or its first bytes), checked."""
    if is_lfs_pointer(data):
        raise CheckpointError(
            f"{path} is a Git LFS pointer ({len(data)} bytes), not the weights: the repository was cloned "
            "without Git LFS. Install git-lfs (https://git-lfs.com, e.g. `apt install git-lfs`), then run "
            "`git lfs install` and `git lfs pull` in the clone to download the weights."
        )
    # A safetensors file starts with its header's length, whose bytes may spell anything
    # (a 19,280-byte header starts with "PK"): look for pickle signatures only when the
    # JSON header is not where safetensors puts it.
    if data[8:9] != b"{" and (data[:1] == b"\x80" or data[:2] == b"PK"):
        raise CheckpointError(
            f"{path} is a PyTorch pickle (.pt/.pth), which is refused: unpickling can run code. "
            "Load it in a trusted session and save it with vae.loaded.save_model."
        )
    if len(data) < 8:
        raise CheckpointError(f"{path} is truncated ({len(data)} bytes). Download or train it again.")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or data[8:9] != b"{":
        raise CheckpointError(f"{path} is not a safetensors file. {TRAIN_HINT}")
    if 8 + n > len(data):
        raise CheckpointError(f"{path} is truncated: its header runs past the end. Download or train it again.")
    try:
        header = json.loads(data[8 : 8 + n])
    except ValueError as e:
        raise CheckpointError(f"{path} has a corrupt header ({e}). Download or train it again.") from e
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") != FORMAT:
        found = metadata.get("format")
        raise CheckpointError(f"{path} was not written by this project (format {found!r}). {TRAIN_HINT}")
    return header


def load_tensors(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """Read and verify a file written by save_tensors: (tensors, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No weights file at {path}. {TRAIN_HINT}")
    data = path.read_bytes()
    header = _parse_header(path, data)["__metadata__"]
    try:
        tensors = safetensors.torch.load(data)
    except Exception as e:  # safetensors raises its own error type for every kind of damage
        raise CheckpointError(f"{path} is truncated or corrupt ({e}). Download or train it again.") from e
    if tensors_sha256(tensors) != header.get("sha256"):
        raise CheckpointError(
            f"{path}: the tensors do not match the SHA-256 in its metadata; the file was modified "
            "or damaged after it was written. Download or train it again."
        )
    return tensors, json.loads(header["metadata"])
