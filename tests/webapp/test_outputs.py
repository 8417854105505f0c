"""Output files: each save is a new file with the name and bytes given, and old files are swept by a later save."""

import os
import time
from pathlib import Path

from webapp.outputs import OutputFiles


def test_each_save_is_a_new_file_with_its_name_and_bytes(tmp_path: Path) -> None:
    outputs = OutputFiles(tmp_path)
    first, second = outputs.save(b"one", "digit.vae"), outputs.save(b"one", "digit.vae")
    assert first != second and Path(first).name == Path(second).name == "digit.vae"
    assert Path(first).read_bytes() == Path(second).read_bytes() == b"one"


def test_old_files_are_swept_and_new_ones_kept(tmp_path: Path) -> None:
    outputs = OutputFiles(tmp_path, max_age=60)
    old, recent = Path(outputs.save(b"old", "a.gif")), Path(outputs.save(b"recent", "a.gif"))
    long_ago = time.time() - 120
    os.utime(old.parent, (long_ago, long_ago))
    outputs.last_sweep = long_ago  # the last sweep was longer ago than max_age: the next save sweeps
    newest = Path(outputs.save(b"new", "a.gif"))
    assert not old.parent.exists() and recent.exists() and newest.read_bytes() == b"new"
