"""Turn a picture of a handwritten digit (photo, scan, Sketchpad drawing) into MNIST's 28x28.

MNIST digits were made like this (LeCun et al.): size-normalised to fit a 20x20 box keeping
the aspect ratio, anti-aliased (grey levels), then placed in a 28x28 field so that their centre
of mass sits at the centre. White ink on black. This module finds the digit in a picture and
reproduces that recipe.

Finding the digit, with OpenCV on a copy of about FIND_SIDE pixels a side:
1. ink is what a morphological closing (dark ink) or opening (light ink) removes: strokes are
   narrow, while the paper, the desk around a sheet, shadows and gradients are wide, so none of
   those count as ink however dark or bright they are; darkness is relative to the paper's level,
   so a stroke in a shadow counts as much as one in full light;
2. a sheet lying on a darker desk is found first, and only the sheet is searched for dark ink;
3. the lines of ruled and squared paper run straight across the page: when there are several,
   their level along each (deskewed) line is subtracted;
4. pixels above the noise form pieces (hysteresis: a piece needs some clearly inked pixels);
   tiny pieces are specks, pieces close together (relative to their size) form one mark;
5. the mark with the most ink is the digit, in whichever polarity holds it; other marks of
   similar size are its rivals, and the Reading says so;
6. the digit is cut from that copy, or, when it is small there, read again from the
   full-resolution picture around it: the search's cost stays that of a FIND_SIDE picture
   whatever the photo's size, while a small digit still gets the pixels it needs.

Centre convention: in pixel-index coordinates (row/column 0..27) real MNIST digits have their
centre of mass at (14.0, 14.0) on average (measured on the test set: 13.99, 14.01), not at the
geometric centre 13.5, so `CENTRE = 14.0` here. Shifts are whole pixels, as LeCun's were.
"""

import math
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

from pictures.uploads import MIN_SIDE, ImageError, check_size, open_image, upright

MNIST_SIDE = 28
_ORIENTATION = 0x0112  # the EXIF tag
BOX_SIDE = 20  # MNIST digits are scaled to fit 20x20, leaving a 4-px margin
CENTRE = 14.0  # where MNIST's centre of mass is, in row/column index coordinates
# MNIST pen widths in 28x28 pixels by _stroke_width (ink > 0.5): median 1.8, 5th percentile 1.2.
# Strokes thinner than nearly all of MNIST's are widened to its typical width.
PEN_WIDTH = 1.8
_THIN_PEN = 1.2
FIND_SIDE = 512  # pictures are box-reduced to about this to find the digit: bounded time and memory
_DIGIT_SIZED = 64  # px: a picture no larger than this is a digit at about MNIST's scale, not a photo
_MIN_CONTRAST = 0.1  # ink must differ from the paper by 10% of full scale
_DIM_PAPER = 0.25  # darkness is measured relative to the paper's level, but never to paper dimmer than this
_SHEET_CONTRAST = 0.15  # a sheet is this much brighter than the desk around it
_SHEET_AREA = (0.1, 0.9)  # and covers this fraction of the picture
_DESK_EDGE = 0.75  # while the desk holds this fraction of the picture's edge
_BARE = 0.8  # and most of it is bare paper
_NOT_ALONE = 0.1  # a bright mark with this much as bright around it is a piece of something larger
_STROKE_FRACTION = 5  # strokes are narrower than 1/5 of the picture's smaller side
_NOISE_SIGMAS = 4.0  # a pixel is ink when it stands this many noise deviations above the paper
_STRONG = 0.5  # a piece needs pixels at half the picture's strongest ink
_CLEAR = 2.0  # and the strongest ink must reach this many times the noise threshold
_SPECK_FRACTION = 0.03  # pieces with under 3% of the largest piece's pixels are specks
_GAP, _GAP_SIMILAR = 0.5, 0.35  # pieces closer than 0.5 x larger - 0.35 x smaller size form one mark
_SIMILAR = 0.6  # another mark at least 0.6 times the digit's size is a rival
_SMALL_MARK = 48  # pixels: a smaller mark in a reduced picture is read again at full resolution (2.4x the box)
_MIN_MARK = 8  # pixels: a smaller mark (after the noise blur) is a dot or a speck, not a digit
_FLAT = 4  # a mark this many times wider than tall is a line, not a digit
_MAX_PIECES = 60  # only the largest pieces are grouped into marks
_MAX_TILT = 10.0  # degrees: how far ruled lines may slope in the picture (a sheet turned on a desk)
_LINE_DILATION = 5  # rows: lines are matched within +-2 px, for slight bends
_MIN_LINES = 3  # fewer straight lines than this are not ruled paper
_LINE_COVERAGE = 80  # percent of a row or column that a line covers


@dataclass(frozen=True)
class Reading:
    """A digit found in a picture: the 28x28 the model sees, where it was, and what else was there."""

    digit: torch.Tensor  # 28x28 float32 in [0, 1], white on black
    box: tuple[int, int, int, int]  # left, top, right, bottom in the upright picture's pixels
    size: tuple[int, int]  # the upright picture's width and height
    rivals: int  # other marks of similar size that were not taken
    note: str  # which mark was taken when there were several; "" otherwise


@dataclass(frozen=True)
class _Mark:
    """Pieces of ink that belong together, in work-image pixels."""

    box: tuple[int, int, int, int]  # left, top, right (exclusive), bottom (exclusive)
    pieces: tuple[int, ...]  # component labels
    mass: float  # total ink


@dataclass(frozen=True)
class _Found:
    """The best mark of one polarity, with the maps needed to cut it out."""

    mark: _Mark
    response: np.ndarray  # how far each pixel stands out from its paper, in this polarity
    low: float  # the noise threshold
    level: float  # a typical stroke pixel's response
    labels: np.ndarray
    rivals: list[_Mark]
    dark: bool  # dark ink on light paper


def find_digit(image: Image.Image | np.ndarray, box: int = BOX_SIDE) -> Reading:
    """Find the digit in a picture and make it MNIST-style; ImageError when there is none.

    `box` is the square the object is scaled to fit: 20 for MNIST digits; Fashion-MNIST's
    items fill the whole 28x28 frame.
    """
    picture = _array_to_image(image) if isinstance(image, np.ndarray) else image
    if picture.getexif().get(_ORIENTATION, 1) != 1:  # open_image has turned uploads already
        picture = upright(picture)
    check_size(picture.size)
    grays = _work_grays(picture)
    found = _best(grays, objects=box > BOX_SIDE)
    left, top, right, bottom = found.mark.box
    keep = np.isin(found.labels[top:bottom, left:right], found.mark.pieces).astype(np.uint8)
    keep = cv2.dilate(keep, np.ones((3, 3), np.uint8))  # plus the anti-aliased edge
    ink = _ink(found.response[top:bottom, left:right], found.low, found.level) * keep
    digit = torch.from_numpy(_centre(_fit_box(ink, box)))
    scale = picture.width / grays[0].shape[1], picture.height / grays[0].shape[0]
    where = (math.floor(left * scale[0]), math.floor(top * scale[1]),
             min(math.ceil(right * scale[0]), picture.width), min(math.ceil(bottom * scale[1]), picture.height))
    note = _note(found.mark, found.rivals, grays[0].shape) if found.rivals else ""
    if scale[0] > 1 and _size(found.mark) < _SMALL_MARK:
        digit, where = _closer(picture, where, box, digit)
    return Reading(digit, where, picture.size, len(found.rivals), note)


def _closer(picture: Image.Image, where: tuple[int, int, int, int], box: int,
            digit: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """A small digit in a reduced picture, read again from the full-resolution picture around it."""
    margin = max(where[2] - where[0], where[3] - where[1])
    crop = (max(where[0] - margin, 0), max(where[1] - margin, 0),
            min(where[2] + margin, picture.width), min(where[3] + margin, picture.height))
    try:
        near = find_digit(picture.crop(crop), box)
    except ImageError:  # the reduced reading stands
        return digit, where
    left, top, right, bottom = near.box
    return near.digit, (crop[0] + left, crop[1] + top, crop[0] + right, crop[1] + bottom)


def to_mnist(image: Image.Image | np.ndarray, box: int = BOX_SIDE) -> torch.Tensor:
    """28x28 float32 tensor in [0, 1], white digit on black, MNIST-normalised."""
    return find_digit(image, box).digit


def load_digit(source: str | os.PathLike | bytes, box: int = BOX_SIDE) -> torch.Tensor:
    """open_image + to_mnist."""
    return to_mnist(open_image(source), box)


# --- the working copy --------------------------------------------------------------------------


def _work_grays(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Luminance in [0, 1] at about FIND_SIDE a side, transparency flattened: the darkest and the brightest
    copy (the same array when the picture is not reduced).

    Area averaging alone would fade a 1-px stroke to 1/factor of its contrast; averaging over half the
    factor and then keeping each 2x2 block's darkest (for dark ink) or brightest (for light ink) pixel
    keeps half of it, as a copy twice this size would, at a quarter of the search's cost.
    """
    image = _plain_mode(image)
    factor = math.ceil(max(image.size) / FIND_SIDE)
    factor = min(factor, min(image.size) // MIN_SIDE)  # never reduce below MIN_SIDE
    keep = 2 if factor > 2 else 1
    if factor // keep > 1:
        image = image.reduce(factor // keep)
    gray = _composite(*_gray_and_alpha(image)).astype(np.float32)
    if keep == 1:
        return gray, gray
    height, width = gray.shape[0] // 2 * 2, gray.shape[1] // 2 * 2
    corners = [gray[row:height:2, col:width:2] for row in (0, 1) for col in (0, 1)]
    return (np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3])),
            np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3])))


# --- ink, in either polarity -------------------------------------------------------------------


def _best(grays: tuple[np.ndarray, np.ndarray], objects: bool = False) -> _Found:
    """The digit: the mark with the most ink, dark on light (in the darkest copy) or light on dark (the brightest).

    With `objects` (Fashion-MNIST's items, which fill their frame), what differs from the
    picture's border level is the object: solid shapes are not strokes, so no closing applies.
    """
    darkest, brightest = (_smoothed(gray, objects) for gray in grays)
    dark, sheet = _dark_ink(darkest, objects)
    # Ink on a sheet lying on a desk is dark: the light cells between a squared sheet's lines are not chalk.
    bright = None if sheet is not None else _light_ink(brightest, objects)
    if dark is None or bright is None:
        if dark is None and bright is None:
            raise _blank()
        return dark or bright
    # The hole of a "0" is a bright blob inside the dark digit (and the reverse on a chalkboard):
    # the mark that holds the other one is the digit.
    if _inside(bright.mark.box, dark.mark.box):
        return dark
    if _inside(dark.mark.box, bright.mark.box):
        return bright
    return max(dark, bright, key=lambda found: found.mark.mass)


def _smoothed(gray: np.ndarray, objects: bool) -> np.ndarray:
    """The picture without its sensor and JPEG noise, which are not strokes."""
    # A digit-sized drawing (MNIST's own 28x28) has none, and there the blur would widen every stroke by a pixel.
    sharp = max(gray.shape) <= _DIGIT_SIZED and not objects
    return gray if sharp else cv2.GaussianBlur(gray, (0, 0), 0.6)


def _dark_ink(smooth: np.ndarray, objects: bool) -> tuple[_Found | None, np.ndarray | None]:
    """The best mark of dark ink on light paper, and the sheet lying on a darker desk (searched alone) if any."""
    paper = _border_level(smooth) if objects else _paper(_bytes(smooth), cv2.MORPH_CLOSE)
    # Dark ink reflects a fixed fraction of the light its paper gets: relative darkness is the
    # same in a shadow as in full light.
    darkness = (paper - smooth) / np.maximum(paper, _DIM_PAPER)
    sheet = None if objects else _sheet(paper)
    # A bright digit on a dark scan closes into a bright blob too, but one full of dark gaps.
    bare = darkness[sheet > 0] < 0.5 if sheet is not None else np.zeros(0, bool)
    if not bare.size or bare.mean() < _BARE:
        sheet = None
    found = _search(_without_lines(darkness if sheet is None else darkness * sheet, sheet), True,
                    within=_ring(smooth.shape) if objects else sheet, rim=None if sheet is None else _rim(sheet))
    return found, sheet


def _rim(sheet: np.ndarray) -> np.ndarray:
    """The found sheet's outline: what touches it is a sliver of desk left inside the sheet's (coarse) outline."""
    return sheet - cv2.erode(sheet, np.ones((3, 3), np.uint8))


def _light_ink(smooth: np.ndarray, objects: bool) -> _Found | None:
    """The best mark of light ink (chalk) on dark ground."""
    if objects:
        return _search(smooth - _border_level(smooth), False, within=_ring(smooth.shape))
    return _search(smooth - _paper(_bytes(smooth), cv2.MORPH_OPEN), False, alone_in=smooth)


def _bytes(smooth: np.ndarray) -> np.ndarray:
    """[0, 1] as 0..255: OpenCV's morphology is several times faster on bytes."""
    return (smooth * 255 + 0.5).astype(np.uint8)


def _border_level(gray: np.ndarray) -> np.ndarray:
    """The picture's background as one level: the median of its outer ring."""
    return np.full(gray.shape, float(np.median(gray[_ring(gray.shape) > 0])), np.float32)


def _ring(shape: tuple[int, int]) -> np.ndarray:
    """The outer ring of a picture, 4% of its smaller side wide (at least 1 px): where its background shows."""
    width = max(1, min(shape) // 25)
    ring = np.ones(shape, np.uint8)
    ring[width:-width, width:-width] = 0
    return ring


def _sheet(paper: np.ndarray) -> np.ndarray | None:
    """Where a sheet lying on a darker desk is (1 inside, 0 outside), or None when the paper fills the picture."""
    height, width = paper.shape
    small = cv2.resize(paper, (max(8, width // 8), max(8, height // 8)), interpolation=cv2.INTER_AREA)
    _, bright = cv2.threshold((small * 255).astype(np.uint8), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if bright.all() or not bright.any() or small[bright == 1].mean() - small[bright == 0].mean() < _SHEET_CONTRAST:
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    edge = np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
    # A desk frames the sheet: it holds most of the picture's edge (a shadow or a bright desk does not).
    area = stats[largest, cv2.CC_STAT_AREA] / bright.size
    if edge.mean() > 1 - _DESK_EDGE or not _SHEET_AREA[0] < area < _SHEET_AREA[1]:
        return None
    sheet = cv2.erode((labels == largest).astype(np.uint8), np.ones((3, 3), np.uint8))  # its edge is not ink
    return cv2.resize(sheet, (width, height), interpolation=cv2.INTER_NEAREST).astype(np.float32)


def _paper(levels: np.ndarray, operation: int) -> np.ndarray:
    """The paper's level around each pixel, in [0, 1]: a closing erases dark strokes, an opening bright ones."""
    side = max(3, min(levels.shape) // _STROKE_FRACTION) | 1
    # A desk strip along the picture's edge is narrow too: padding by replication widens it
    # beyond the kernel, so that it stays background.
    padded = cv2.copyMakeBorder(levels, side, side, side, side, cv2.BORDER_REPLICATE)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    return cv2.morphologyEx(padded, operation, kernel)[side:-side, side:-side].astype(np.float32) / 255


def _search(response: np.ndarray, dark: bool, within: np.ndarray | None = None,
            alone_in: np.ndarray | None = None, rim: np.ndarray | None = None) -> _Found | None:
    """The mark with the most ink in one polarity's ink map (`within` a sheet, pieces touching its `rim` left out);
    None when nothing stands out.

    With `alone_in` (the picture), a mark must also stand alone: the corner of a bright sheet on
    a dark desk stands out from the desk like chalk does, but it is joined to the rest of the sheet.
    """
    response = np.maximum(response, 0, out=response)  # rounding can leave tiny negatives
    sample = response[::4, ::4]  # the noise level, from a sixteenth of the pixels (of the sheet)
    if within is not None and (within[::4, ::4] > 0).any():
        sample = sample[within[::4, ::4] > 0]
    base = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - base)))
    low = base + max(_NOISE_SIGMAS * spread, _MIN_CONTRAST / 4)
    smooth = cv2.GaussianBlur(response, (0, 0), 1.0)
    peak = float(smooth.max())
    if peak - base < _MIN_CONTRAST or peak <= _CLEAR * low:
        return None
    strong = smooth > max(base + _STRONG * (peak - base), low)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((response > low).astype(np.uint8), connectivity=8)
    inked = np.bincount(labels[strong], minlength=count) > 0
    inked[0] = False
    if rim is not None:
        inked[labels[rim > 0]] = False
    pieces = np.flatnonzero(inked)
    if not pieces.size:  # the strong pixels lie between the noise-level pieces (a tiny picture)
        return None
    areas = stats[pieces, cv2.CC_STAT_AREA]
    pieces = pieces[areas >= _SPECK_FRACTION * areas.max()]
    pieces = pieces[np.argsort(-stats[pieces, cv2.CC_STAT_AREA])][:_MAX_PIECES]
    level = max(float(np.median(response[strong])), low + _MIN_CONTRAST / 4)
    weak = labels > 0
    mass = np.bincount(labels[weak], weights=_ink(response[weak], low, level), minlength=count)
    # No digit is a flat horizontal stroke; what is, is a leftover of a line across the page.
    marks = sorted((mark for mark in _group(stats, pieces, mass)
                    if mark.box[2] - mark.box[0] < _FLAT * (mark.box[3] - mark.box[1])), key=lambda mark: -mark.mass)
    if alone_in is not None:
        marks = [mark for mark in marks if _alone(mark, alone_in, labels)]
    if not marks or _size(marks[0]) < _MIN_MARK:
        return None  # nothing, or a dot: no digit to scale up
    rivals = [mark for mark in marks[1:] if _size(mark) >= _SIMILAR * _size(marks[0])]
    return _Found(marks[0], response, low, level, labels, rivals, dark)


def _size(mark: _Mark) -> int:
    """The longer side of a mark's box."""
    return max(mark.box[2] - mark.box[0], mark.box[3] - mark.box[1])


def _ink(response: np.ndarray, low: float, level: float) -> np.ndarray:
    """Ink from 0 (at the noise threshold) to 1 (a typical stroke pixel and above)."""
    return np.clip((response - low) / (level - low), 0, 1)


def _alone(mark: _Mark, gray: np.ndarray, labels: np.ndarray) -> bool:
    """Whether a bright mark stands alone: around it, little else is as bright as the mark."""
    left, top, right, bottom = mark.box
    margin = max(2, (max(right - left, bottom - top) * 3) // 20)
    rows = slice(max(top - margin, 0), bottom + margin)
    cols = slice(max(left - margin, 0), right + margin)
    window, inside = gray[rows, cols], np.isin(labels[rows, cols], mark.pieces)
    level, around = float(np.median(window[inside])), float(np.median(window[~inside]))
    return float(np.mean((window > (level + around) / 2) & ~inside)) < _NOT_ALONE


def _group(stats: np.ndarray, pieces: np.ndarray, mass: np.ndarray) -> list[_Mark]:
    """Pieces whose boxes lie close together (relative to their size), joined into marks."""
    left, top = stats[pieces, cv2.CC_STAT_LEFT], stats[pieces, cv2.CC_STAT_TOP]
    right, bottom = left + stats[pieces, cv2.CC_STAT_WIDTH], top + stats[pieces, cv2.CC_STAT_HEIGHT]
    size = np.maximum(right - left, bottom - top)
    gap_x = np.maximum(left[:, None], left[None, :]) - np.minimum(right[:, None], right[None, :])
    gap_y = np.maximum(top[:, None], top[None, :]) - np.minimum(bottom[:, None], bottom[None, :])
    # A small piece (the bar of a 5) joins a larger one from further away than two digits side by side would.
    larger, smaller = np.maximum(size[:, None], size[None, :]), np.minimum(size[:, None], size[None, :])
    near = np.maximum(gap_x, gap_y) <= _GAP * larger - _GAP_SIMILAR * smaller
    group = _closure(near)
    marks = []
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        box = (int(left[members].min()), int(top[members].min()), int(right[members].max()),
               int(bottom[members].max()))
        marks.append(_Mark(box, tuple(int(p) for p in pieces[members]), float(mass[pieces[members]].sum())))
    return marks


def _closure(near: np.ndarray) -> np.ndarray:
    """Group ids of a symmetric "near" relation's transitive closure (the smallest member's index)."""
    reach = near | np.eye(len(near), dtype=bool)
    while True:
        wider = (reach.astype(np.int32) @ reach.astype(np.int32)) > 0
        if (wider == reach).all():
            return wider.argmax(axis=1)
        reach = wider


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    """Whether box `inner` lies within box `outer`."""
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _note(mark: _Mark, rivals: list[_Mark], shape: tuple[int, int]) -> str:
    """Say which of several similar marks was read, by where it is in the picture."""
    height, width = shape
    column = ("left", "centre", "right")[min(2, 3 * (mark.box[0] + mark.box[2]) // (2 * width))]
    row = ("top", "middle", "bottom")[min(2, 3 * (mark.box[1] + mark.box[3]) // (2 * height))]
    where = "the centre" if (row, column) == ("middle", "centre") else f"the {row} {column}".replace(" centre", "")
    return (f"The picture holds {len(rivals) + 1} separate marks of similar size; "
            f"this reads the one with the most ink, at {where} (boxed).")


def _blank() -> ImageError:
    """The error for pictures without a digit."""
    return ImageError("No digit found: nothing in the picture stands out as a handwritten mark (a blank page, "
                      "or a photo without writing?). Please draw or upload a digit.")


# --- ruled and squared paper -------------------------------------------------------------------


def _without_lines(ink: np.ndarray, sheet: np.ndarray | None) -> np.ndarray:
    """Subtract the lines of ruled or squared paper: at least _MIN_LINES straight lines across the page (the sheet)."""
    height, width = ink.shape
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), _line_angle(ink), 1.0)
    level = cv2.warpAffine(ink, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)  # lines along rows, columns
    page = np.ones(ink.shape, np.uint8) if sheet is None else sheet.astype(np.uint8)
    page = cv2.warpAffine(page, turn, (width, height), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    # The level of a line is what it reaches along 80% of its length: a digit covers too little of it to count.
    rows = _line_profile(cv2.dilate(level, np.ones((_LINE_DILATION, 1), np.float32))[:, ::4], page[:, ::4], axis=1)
    cols = _line_profile(cv2.dilate(level, np.ones((1, _LINE_DILATION), np.float32))[::4, :], page[::4, :], axis=0)
    if max(_lines(rows > 0), _lines(cols > 0)) < _MIN_LINES:
        return ink
    lines = np.maximum(rows[:, None], cols[None, :])
    back = cv2.warpAffine(lines, turn, (width, height), flags=cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(ink - back, 0, None)


def _line_profile(level: np.ndarray, page: np.ndarray, axis: int) -> np.ndarray:
    """Per row (axis=1) or column (axis=0): its line's level above the typical one, where a line covers 80% of
    the page's part of it (rows and columns that cross too little of the page hold no line)."""
    covered = _page_percentile(level, page, 100 - _LINE_COVERAGE, axis)
    typical_level = _page_percentile(level, page, 50, axis)
    across = page.sum(axis=axis)
    crosses = across >= across.max() / 2
    typical = float(np.median(covered[crosses]))
    spread = 1.4826 * float(np.median(np.abs(covered[crosses] - typical)))
    line = crosses & (covered - typical > max(6 * spread, _MIN_CONTRAST / 3))
    return np.where(line, typical_level - float(np.median(typical_level[crosses])), 0).astype(np.float32)


def _page_percentile(level: np.ndarray, page: np.ndarray, percent: float, axis: int) -> np.ndarray:
    """The percentile of `level` (>= 0) along `axis` over the pixels where `page` is set."""
    ranked = np.sort(np.where(page > 0, level, -1), axis=axis)  # off the page first
    inside = page.sum(axis=axis, keepdims=True)
    at = np.minimum(ranked.shape[axis] - inside + np.maximum(inside - 1, 0) * percent // 100, ranked.shape[axis] - 1)
    return np.take_along_axis(ranked, at.astype(np.intp), axis=axis).squeeze(axis).clip(0, None)


def _lines(mask: np.ndarray) -> int:
    """The number of separate lines in a 1-D mask of line rows (runs less than _LINE_DILATION apart are one)."""
    closed = cv2.morphologyEx(mask.astype(np.uint8)[:, None], cv2.MORPH_CLOSE, np.ones((_LINE_DILATION, 1), np.uint8))
    starts = closed[1:, 0] > closed[:-1, 0]
    return int(closed[0, 0]) + int(np.count_nonzero(starts))


def _line_angle(ink: np.ndarray) -> float:
    """The rotation (degrees) that makes the page's lines run along rows and columns."""
    scale = 320 / max(ink.shape)
    small = cv2.resize(ink, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else ink
    # Capped at a faint line's level, so that the digit's strokes cannot outweigh the lines.
    small = np.minimum(small - float(np.median(small)), _MIN_CONTRAST / 2)
    height, width = small.shape

    def peakiness(angle: float) -> float:
        turned = cv2.warpAffine(small, cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0), (width, height))
        return float(turned.sum(axis=1).var() + turned.sum(axis=0).var())

    coarse = max(np.arange(-_MAX_TILT, _MAX_TILT + 0.01, 1.0), key=peakiness)
    return float(max(coarse + np.arange(-0.8, 0.81, 0.2), key=peakiness))


# --- colour, transparency ----------------------------------------------------------------------


def _array_to_image(array: np.ndarray) -> Image.Image:
    """PIL image from a Gradio array: HxW, HxWx1..4 uint8, or HxW of any real dtype."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] <= 4)):
        return Image.fromarray(np.ascontiguousarray(array))
    if array.ndim == 2 and (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        return Image.fromarray(array.astype(np.float32))  # mode F: scaled by its real range
    raise ImageError(
        f"Unsupported image data (array of shape {array.shape}, type {array.dtype}). Please upload a normal image file."
    )


def _plain_mode(image: Image.Image) -> Image.Image:
    """Reduce Pillow's many modes to L, LA, RGB, RGBA, I or F."""
    mode = image.mode
    if mode.startswith("I;16"):
        return image.convert("I")  # Pillow's reduce() and numpy handle 32-bit I directly
    if mode in ("I", "F") or (mode in ("L", "LA", "RGB", "RGBA") and "transparency" not in image.info):
        return image
    if mode in ("P", "PA", "La", "RGBa") or "transparency" in image.info:
        # Palette and single-colour transparency (tRNS, GIF) become a real alpha channel.
        has_alpha = mode in ("PA", "La", "RGBa") or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # CMYK, YCbCr, RGBX, HSV, LAB...


def _gray_and_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance in [0, 1] and the alpha channel in [0, 1] (None when the image is opaque)."""
    if image.mode in ("I", "F"):
        return _range_scaled(np.asarray(image, dtype=np.float64)), None
    alpha = None
    if image.mode in ("LA", "RGBA"):
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255  # ITU-R 601 luma
    return gray, alpha


def _range_scaled(values: np.ndarray) -> np.ndarray:
    """Scale 16-bit, 32-bit or float data by its actual range; NaN and infinities become 0."""
    # A 12-bit scan in a 16-bit file uses 1/16 of the type's range, so the type range is wrong.
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.float32)
    low, high = values[finite].min(), values[finite].max()
    if high == low:
        return np.zeros(values.shape, np.float32)
    return np.where(finite, (values - low) / (high - low), 0.0).astype(np.float32)


def _composite(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Flatten transparency onto the background that contrasts with the opaque pixels."""
    if alpha is None:
        return gray
    coverage = float(alpha.sum())
    if coverage == 0:
        return np.zeros_like(gray)  # fully transparent: nothing drawn
    # Sketchpad strokes are dark on a transparent canvas: they need a light background.
    ink_level = float((gray * alpha).sum()) / coverage
    background = 1.0 if ink_level < 0.5 else 0.0
    return alpha * gray + (1 - alpha) * background


# --- size normalisation and centring -----------------------------------------------------------


def _fit_box(ink: np.ndarray, box: int) -> np.ndarray:
    """Scale the cropped digit to fit box x box, keeping aspect ratio and pen width."""
    # Max-pool big crops to 4-8x the box first: a 1-px stroke keeps full intensity instead of
    # being averaged away, and the thickening below stays cheap.
    factor = max(1, max(ink.shape) // (4 * box))
    ink = _thicken(_max_pool(ink, factor) if factor > 1 else ink, box)
    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Shrinking by area averaging is how NIST's binary digits got MNIST's grey edges;
    # enlarging small inputs needs an interpolating filter instead.
    resample = cv2.INTER_AREA if scale < 1 else cv2.INTER_LANCZOS4
    return np.clip(cv2.resize(ink.astype(np.float32), size, interpolation=resample), 0, 1)


def _thicken(ink: np.ndarray, box: int) -> np.ndarray:
    """Dilate strokes that would end up thinner than MNIST's pen once scaled to the box."""
    pixels_per_box_pixel = max(ink.shape) / box
    width = _stroke_width(ink > 0.5)
    if width >= _THIN_PEN * pixels_per_box_pixel:
        return ink  # as thick as MNIST's pens (or thicker): leave the writer's style alone
    grow = 2 * round((PEN_WIDTH * pixels_per_box_pixel - width) / 2)  # even: both sides alike
    if grow < 2:
        return ink
    padded = np.pad(ink, grow // 2)  # room to grow past the crop edges
    return cv2.dilate(padded, np.ones((grow + 1, grow + 1), np.uint8))


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width: twice the area over the perimeter (a band of width w: 2wL / 2L)."""
    padded = np.pad(mask, 1)
    perimeter = (padded[:, 1:] != padded[:, :-1]).sum() + (padded[1:] != padded[:-1]).sum()
    return 2 * float(mask.sum()) / max(int(perimeter), 1)


def _max_pool(values: np.ndarray, factor: int) -> np.ndarray:
    """Maximum over factor x factor blocks (the edge is padded with zeros)."""
    kernel = np.ones((factor, factor), np.uint8)
    pooled = cv2.dilate(values, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return pooled[::factor, ::factor]


def _centre(fitted: np.ndarray) -> np.ndarray:
    """Paste into 28x28 with the centre of mass at CENTRE, by a whole-pixel shift as LeCun did."""
    height, width = fitted.shape
    moments = cv2.moments(fitted)
    com_row, com_col = moments["m01"] / moments["m00"], moments["m10"] / moments["m00"]
    # Clamped so a lopsided digit is never cut off; that costs at most a little centring.
    top = min(max(round(CENTRE - com_row), 0), MNIST_SIDE - height)
    left = min(max(round(CENTRE - com_col), 0), MNIST_SIDE - width)
    canvas = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    canvas[top : top + height, left : left + width] = fitted
    return canvas
