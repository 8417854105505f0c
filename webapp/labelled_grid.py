"""A grid of decoded digits with its rows and columns named in the picture (the traversal grid's labels)."""

from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from vae.latent import traversal_values
from vae.loaded import LoadedModel
from vae.render import grid_image
from webapp.compute import dimension_name

FONT_PX = 14
MARGIN = 6  # px between a label and the grid
SIDE, PAD = 28, 2  # a digit's side and the gap between digits, as vae.render.make_grid lays them out


def value_label(v: float) -> str:
    """A traversal column's value as its header shows it: -3, ..., 0, ..., +3."""
    return f"{v:+g}" if v else "0"


def row_labels(loaded: LoadedModel, rows: int) -> list[tuple[str, str]]:
    """Each traversal row's dimension name and its KL, in slider order (most informative first)."""
    kl = loaded.metadata.metrics.kl_per_dim
    return [(dimension_name(d), f"KL {kl[d]:.2f}") for d in loaded.ranking[:rows]]


def labelled_grid(probs: Tensor, rows: list[tuple[str, ...]], columns: list[str], scale: int) -> Image.Image:
    """`probs` (N, 1, 28, 28) as a grid of len(columns) digits a row, each row named at its left by its lines of
    text, each column at its top: black text on white, the grid as vae.render.grid_image draws it."""
    grid = grid_image(probs, nrow=len(columns), scale=scale)
    font = ImageFont.load_default(size=FONT_PX)
    measure = ImageDraw.Draw(grid)
    left = MARGIN + max((measure.textlength(line, font=font) for lines in rows for line in lines), default=0)
    left, top = int(left) + MARGIN, FONT_PX + 2 * MARGIN
    out = Image.new("L", (grid.width + left, grid.height + top), 255)
    out.paste(grid, (left, top))
    draw, pitch, first = ImageDraw.Draw(out), (SIDE + PAD) * scale, (PAD + SIDE / 2) * scale
    for c, text in enumerate(columns):
        draw.text((left + first + c * pitch, top / 2), text, fill=0, font=font, anchor="mm")
    for r, lines in enumerate(rows):
        y0 = top + first + r * pitch - (len(lines) - 1) * FONT_PX / 2
        for i, line in enumerate(lines):
            draw.text((left - MARGIN, y0 + i * (FONT_PX + 2)), line, fill=0, font=font, anchor="rm")
    return out


def traversal_picture(loaded: LoadedModel, probs: Tensor, scale: int = 2) -> Image.Image:
    """The traversal grid `probs` of `loaded` (rows of its top dimensions), labelled: dimension and KL per row,
    the value along it per column."""
    columns = [value_label(float(v)) for v in traversal_values()]
    return labelled_grid(probs, row_labels(loaded, len(probs) // len(columns)), columns, scale)
