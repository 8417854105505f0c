"""One reading per picture: a Reconstruct click runs two endpoints (/reconstruct, /locate) that share one find_digit.

The two run at the same time, so the first to ask for a picture finds the digit and the other waits for that
reading. Uploads are keyed by their file (path, size, modification time), drawings by their pixels. Only digits
found are kept: a picture without one is looked at again by a later asker.
"""

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future

import numpy as np

from vae.digitize import Reading, find_digit
from vae.uploads import open_image

KEEP = 16  # readings kept: a few clicks' worth, for a few users at once

_READINGS: OrderedDict[Hashable, Future] = OrderedDict()
_LOCK = threading.Lock()


def read_upload(path: str | os.PathLike, box: int) -> Reading:
    """find_digit of an uploaded file, found once however many endpoints ask; ImageError as find_digit's."""
    try:
        stat = os.stat(path)
        key: Hashable = ("file", os.path.realpath(path), stat.st_size, stat.st_mtime_ns, box)
    except OSError:
        key = ("missing", str(path), box)  # open_image says what is wrong with it
    return _once(key, lambda: find_digit(open_image(path), box))


def read_drawing(pixels: np.ndarray, box: int) -> Reading:
    """find_digit of a drawing (the Sketchpad's array), found once however many endpoints ask."""
    digest = hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=16).hexdigest()
    return _once(("drawing", digest, pixels.shape, pixels.dtype.str, box), lambda: find_digit(pixels, box))


def _once(key: Hashable, find: Callable[[], Reading]) -> Reading:
    """The reading under `key`: found here if nobody has asked yet, else the one being (or already) found."""
    with _LOCK:
        future = _READINGS.get(key)
        finder = future is None
        if finder:
            future = _READINGS[key] = Future()
            while len(_READINGS) > KEEP:
                _READINGS.popitem(last=False)
    if finder:
        try:
            future.set_result(find())
        except BaseException as error:  # whoever waits gets the same error, and none waits forever
            future.set_exception(error)
            # Not remembered: an error's traceback holds the frames, and so the decoded picture, that raised it.
            with _LOCK:
                _READINGS.pop(key, None)
    return future.result()
