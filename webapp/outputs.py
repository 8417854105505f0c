"""Files the server hands out (pictures, GIFs, .vae files), each in a folder of its own, swept when old."""

import io
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from torch import Tensor

from vae.render import to_image

SCALE = 8  # a 28 px digit is shown 224 px, nearest neighbour


@dataclass
class OutputFiles:
    """Output files under the names a visitor sees, each in a folder of its own; files older than max_age are swept.

    Handlers return files, not PIL images, because Gradio copies a file into its cache
    atomically, while it rewrites a PIL image's cache file in place: two sessions making the
    same picture at once (everyone's first "Reset to origin") could serve each other half a file.
    """

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vae-demo-out-")))
    max_age: float = 600.0  # Gradio serves its own cached copy, so ours can go soon
    last_sweep: float = field(default_factory=time.time)

    def save(self, data: bytes, name: str) -> str:
        """Write `data` to a new file called `name` (what a download is called) and return its path."""
        now = time.time()
        if now - self.last_sweep > self.max_age:
            self.last_sweep = now
            for old in self.folder.iterdir():
                if now - old.stat().st_mtime > self.max_age:
                    shutil.rmtree(old, ignore_errors=True)
        path = Path(tempfile.mkdtemp(dir=self.folder)) / name
        path.write_bytes(data)
        return str(path)


OUTPUTS = OutputFiles()


def png(image: Image.Image) -> str:
    """An image as a PNG output file."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # fast: the files are small at any level
    # A name of its own: Gradio serves a file at its content's hash and its name, and the page draws the server's
    # picture when its address changes (static/page.js): the same origin twice must still be a new answer.
    return OUTPUTS.save(buf.getvalue(), f"picture-{uuid.uuid4().hex[:16]}.png")


def big(probs: Tensor) -> str:
    """A 28x28 probability map as a large, crisp PNG."""
    return png(to_image(probs, SCALE))
