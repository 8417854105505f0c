"""A 2-D code space as a picture: the test digits' codes coloured by class and the circle that holds most of the
prior N(0, I), in a given window of code space (so two maps can share one scale), with the classes' legend in a
margin at its right, off the codes; then a few codes marked on it."""

import math

from PIL import Image, ImageColor, ImageDraw, ImageFont
from torch import Tensor

from vae.autoencoder import MapWindow

# The class colours of the latent map (static/page.js), so a digit has one colour on every map of the page.
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
SIDE = 420  # px
POINT_ALPHA = 150  # of 255: dense classes show through each other


def tick_step(half_side: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) that puts about eight ticks across a map."""
    raw = half_side / 4
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def ticks(centre: float, half_side: float, step: float) -> list[float]:
    """The multiples of `step` within centre +- half_side."""
    first, last = math.ceil((centre - half_side) / step), math.floor((centre + half_side) / step)
    return [k * step for k in range(first, last + 1)]


def to_pixel(z1: float, z2: float, window: MapWindow) -> tuple[float, float]:
    """Where the code (z1, z2) lies on a map of `window`, z1 to the right and z2 up, in pixels."""
    (c1, c2), half = window.centre, window.half_side
    return (z1 - c1 + half) / (2 * half) * SIDE, (c2 + half - z2) / (2 * half) * SIDE


def code_map_picture(codes: Tensor, labels: Tensor, class_names: list[str], window: MapWindow,
                     circle: float) -> Image.Image:
    """Codes (N, 2) as dots coloured by label in `window`, with a circle of radius `circle` around 0: a SIDE x SIDE
    map, and right of it the legend."""
    font = ImageFont.load_default(size=12)
    image = Image.new("RGB", (SIDE + legend_width(class_names, font), SIDE), "white")
    image.paste(code_map(codes, labels, window, circle, font), (0, 0))
    draw = ImageDraw.Draw(image)
    draw.line([(SIDE, 0), (SIDE, SIDE)], fill="#ddd")
    for i, name in enumerate(class_names):
        draw.rectangle([SIDE + 8, 6 + 15 * i, SIDE + 17, 15 + 15 * i], fill=COLOURS[i % len(COLOURS)])
        draw.text((SIDE + 22, 4 + 15 * i), name, fill="#222", font=font)
    return image


def legend_width(class_names: list[str], font: ImageFont.FreeTypeFont) -> int:
    """The width of the legend's margin: a swatch and the longest class name."""
    return 30 + math.ceil(max(font.getlength(name) for name in class_names))


def code_map(codes: Tensor, labels: Tensor, window: MapWindow, circle: float,
             font: ImageFont.FreeTypeFont) -> Image.Image:
    """The map alone (SIDE x SIDE): the prior's circle, the axes, and the codes, whatever lies outside cut off."""
    image = Image.new("RGBA", (SIDE, SIDE), "white")
    draw = ImageDraw.Draw(image)
    (cx, cy), r = to_pixel(0, 0, window), circle / (2 * window.half_side) * SIDE
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill="#e8e8e8")  # the prior's region, under the codes
    draw_axes(draw, window, font)
    dots = Image.new("RGBA", image.size, (0, 0, 0, 0))
    dot = ImageDraw.Draw(dots)
    for (z1, z2), label in zip(codes.tolist(), labels.tolist(), strict=True):
        x, y = to_pixel(z1, z2, window)
        dot.rectangle([x - 1.5, y - 1.5, x + 1.5, y + 1.5],
                      fill=(*ImageColor.getrgb(COLOURS[label % len(COLOURS)]), POINT_ALPHA))
    image.alpha_composite(dots)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline="black", width=2)
    return image.convert("RGB")


def draw_axes(draw: ImageDraw.ImageDraw, window: MapWindow, font: ImageFont.FreeTypeFont) -> None:
    """Grid lines at round values of z1 and z2 with their labels (bottom and left), the axes through 0 darker."""
    step = tick_step(window.half_side)
    for v in ticks(window.centre[0], window.half_side, step):  # z1: vertical lines
        x = to_pixel(v, 0, window)[0]
        draw.line([(x, 0), (x, SIDE)], fill="#444" if v == 0 else "#ddd")
        if v and 20 < x < SIDE - 30:  # none near a corner, where the two axes' labels would meet
            draw.text((x + 2, SIDE - 16), f"{v:g}", fill="#555", font=font)
    for v in ticks(window.centre[1], window.half_side, step):  # z2: horizontal lines
        y = to_pixel(0, v, window)[1]
        draw.line([(0, y), (SIDE, y)], fill="#444" if v == 0 else "#ddd")
        if v and 20 < y < SIDE - 30:
            draw.text((2, y - 14), f"{v:g}", fill="#555", font=font)
    draw.text((SIDE - 24, SIDE - 32), "z1", fill="#222", font=font)
    draw.text((to_pixel(0, 0, window)[0] + 4, 2), "z2", fill="#222", font=font)


def mark_codes(picture: Image.Image, marks: Tensor, window: MapWindow) -> Image.Image:
    """A copy of a code_map_picture of `window` with a cross at each code of `marks` (M, 2), smaller on a map so
    wide that one unit is only a few pixels."""
    marked = picture.copy()
    draw = ImageDraw.Draw(marked)
    arm = min(5.0, max(2.0, SIDE / (2 * window.half_side) * 0.5))  # half a unit of z, between 2 and 5 px
    for z1, z2 in marks.tolist():
        x, y = to_pixel(z1, z2, window)
        draw.line([(x - arm, y - arm), (x + arm, y + arm)], fill="black", width=2 if arm > 3 else 1)
        draw.line([(x - arm, y + arm), (x + arm, y - arm)], fill="black", width=2 if arm > 3 else 1)
    return marked
