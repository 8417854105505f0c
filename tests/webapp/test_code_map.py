"""The Code map's API (webapp/views/code_map.py) on a served page: /projection gives the stored map, /neighbours the
truly nearest test digits of an example, /direction and /analogy decode the codes they promise, and a stale map
is refused, with the command that recomputes it."""

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from pictures.digitize import load_digit
from tests.helpers import WEIGHTS, api_client
from vae.checkpoint import load_tensors, save_tensors
from vae.latent import decode_probs
from vae.loaded import LoadedModel, load_model
from vae.projection import (
    FOLDER,
    analogy,
    class_direction,
    digits_path,
    load_projection,
    move_along,
    projection_path,
)
from vae.render import to_image
from webapp.demo import create_demo
from webapp.digit_input import EXAMPLES
from webapp.outputs import SCALE

SHOWN = ["mlp-2d", "conv-32d"]  # a model with an exact map, and one whose map is flattened
STALE = "mlp-20d"


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two shipped models with their maps, and one whose map was computed from other weights."""
    folder = tmp_path_factory.mktemp("weights")
    (folder / FOLDER).mkdir()
    for name in [*SHOWN, STALE]:
        (folder / f"{name}.safetensors").symlink_to(WEIGHTS / f"{name}.safetensors")
    for name in SHOWN:
        projection_path(folder, name).symlink_to(projection_path(WEIGHTS, name))
    digits_path(folder, "mnist").symlink_to(digits_path(WEIGHTS, "mnist"))
    tensors, meta = load_tensors(projection_path(WEIGHTS, STALE))
    save_tensors(projection_path(folder, STALE), tensors, {**meta, "weights_sha256": "f" * 64})
    return folder


@pytest.fixture(scope="module")
def client(weights_dir: Path) -> Iterator[Client]:
    demo = create_demo(weights_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, show_error=True)
    try:
        yield api_client(f"http://127.0.0.1:{port}/")
    finally:
        demo.close()


@pytest.fixture(scope="module", params=SHOWN)
def shown(request: pytest.FixtureRequest) -> tuple[LoadedModel, object]:
    loaded = load_model(WEIGHTS / f"{request.param}.safetensors")
    return loaded, load_projection(loaded, WEIGHTS)


def pixels(path: str, scale: int = SCALE) -> np.ndarray:
    """A returned picture, one value per pixel of the 28 x 28 digits it shows."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"))[::scale, ::scale].astype(int)


def grey(probs: torch.Tensor) -> np.ndarray:
    return np.asarray(to_image(probs)).astype(int)


def test_projection_gives_the_stored_map(client: Client, shown) -> None:
    loaded, proj = shown
    got = client.predict(loaded.name, "umap", api_name="/projection")
    assert got["x"] == proj.umap[:, 0].tolist() and got["y"] == proj.umap[:, 1].tolist()
    assert got["test_index"] == proj.test_indices.tolist()
    assert got["class"] == [loaded.class_names[k] for k in proj.labels.tolist()]
    if loaded.latent_dim == 2:
        assert client.predict(loaded.name, "exact", api_name="/projection")["x"] == proj.codes[:, 0].tolist()
    else:
        with pytest.raises(AppError, match="choose 'umap' or 'pca'"):
            client.predict(loaded.name, "exact", api_name="/projection")


def test_neighbours_are_the_nearest_stored_codes_to_the_digits_code(client: Client, shown) -> None:
    loaded, proj = shown
    example = EXAMPLES["mnist"][13]
    gallery, note, current = client.predict(loaded.name, handle_file(example), None, api_name="/neighbours")
    z = loaded.model.encode(load_digit(example).view(1, 1, 28, 28))[0][0].detach()
    assert current["code"] == pytest.approx(z.tolist(), abs=1e-5)
    by_brute_force = torch.stack([(c - z).norm() for c in proj.codes]).argsort()[:len(gallery)]
    numbers = [int(re.match(r"#(\d+): ", item["caption"]).group(1)) for item in gallery]
    assert numbers == proj.test_indices[by_brute_force].tolist()
    first = by_brute_force[0]
    assert (pixels(gallery[0]["image"]) == proj.images[first].numpy().astype(int)).all()
    assert f"{float((proj.codes[first] - z).norm()):.1f} away" in gallery[0]["caption"]
    assert f"the {loaded.latent_dim} numbers" in note


def test_direction_moves_the_first_class_average_to_the_second(client: Client, shown) -> None:
    loaded, proj = shown
    for t in (0.0, 0.5):
        got = pixels(client.predict(loaded.name, None, None, 3, 8, t, api_name="/direction"))
        z = move_along(proj.class_means[3], class_direction(proj.class_means, 3, 8), t)
        assert np.abs(got - grey(decode_probs(loaded.model, z[None])[0])).max() <= 1
    at_one = pixels(client.predict(loaded.name, None, None, 3, 8, 1.0, api_name="/direction"))
    assert np.abs(at_one - grey(decode_probs(loaded.model, proj.class_means[8][None])[0])).max() <= 1


def test_analogy_decodes_a_minus_b_plus_c(client: Client, shown) -> None:
    loaded, proj = shown
    numbers = proj.test_indices[[0, 1, 2]].tolist()
    strip = pixels(client.predict(loaded.name, *numbers, api_name="/analogy"), scale=4)
    tiles = [strip[2:30, 2 + 30 * k: 30 + 30 * k] for k in range(4)]  # make_grid: 28 px tiles, 2 px apart
    for k in range(3):
        assert (tiles[k] == proj.images[k].numpy().astype(int)).all()
    expected = decode_probs(loaded.model, analogy(*proj.codes[:3])[None])[0]
    assert np.abs(tiles[3] - grey(expected)).max() <= 1
    for off_the_map in (9999, -1, 2**70):  # 2**70 once overflowed a tensor: "int too big to convert"
        with pytest.raises(AppError, match="not on the map"):
            client.predict(loaded.name, off_the_map, *numbers[1:], api_name="/analogy")


def test_a_stale_map_is_refused_with_the_command_that_recomputes_it(client: Client) -> None:
    with pytest.raises(AppError, match=f"stale.*project_codes.py --only {STALE}"):
        client.predict(STALE, "pca", api_name="/projection")
