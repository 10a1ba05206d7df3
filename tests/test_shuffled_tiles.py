import torch
from torch.utils.data import TensorDataset

from landmark_core.shuffled_tiles import ShuffledTiles, shuffle_tiles


def numbered_image(channels: int = 3, size: int = 8) -> torch.Tensor:
    return torch.arange(channels * size * size, dtype=torch.float32).reshape(channels, size, size)


def tiles(image: torch.Tensor, grid: int) -> list[torch.Tensor]:
    side = image.shape[1] // grid
    return [image[:, r * side : (r + 1) * side, c * side : (c + 1) * side] for r in range(grid) for c in range(grid)]


def test_shuffle_tiles_moves_whole_tiles_and_keeps_every_one():
    torch.manual_seed(0)
    image = numbered_image()
    shuffled = shuffle_tiles(image, grid=4)
    assert shuffled.shape == image.shape and not torch.equal(shuffled, image)
    before = sorted(tile.flatten().tolist() for tile in tiles(image, 4))
    after = sorted(tile.flatten().tolist() for tile in tiles(shuffled, 4))
    assert before == after  # the same tiles, each intact, in another order


def test_shuffle_tiles_keeps_the_size_and_follows_the_seed():
    image = numbered_image(size=10)  # 10 px do not divide into 4 tiles: rows and columns 8-9 stay put
    torch.manual_seed(1)
    first = shuffle_tiles(image, grid=4)
    assert first.shape == image.shape
    assert torch.equal(first[:, 8:], image[:, 8:]) and torch.equal(first[:, :, 8:], image[:, :, 8:])
    torch.manual_seed(1)
    assert torch.equal(first, shuffle_tiles(image, grid=4))


def test_shuffled_tiles_dataset_labels_every_view_as_none_of_these():
    views = TensorDataset(torch.stack([numbered_image(), numbered_image() + 1000]), torch.tensor([0, 1]))
    outliers = ShuffledTiles(views, label=2, count=5)
    assert len(outliers) == 5
    for index in range(5):
        image, label = outliers[index]
        assert label == 2 and image.shape == (3, 8, 8)
        assert image.min() in (0, 1000)  # drawn from one of the views, never a mix
