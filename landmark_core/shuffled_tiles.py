"""Photos made unrecognisable on purpose, as more "none of these" examples for the scratch CNN.

Negative data augmentation (Sinha et al. 2021): a training view of a known landmark, cut into a grid of tiles that
are then shuffled, keeps every local texture and colour of the landmark but none of its shape. Trained to call such
views "none of these", the network must look at a landmark's structure, not only its stone, sky and grass: what
lets photos of textures, food or pets through a model that only ever saw landmarks.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset


def shuffle_tiles(image: Tensor, grid: int) -> Tensor:
    """(C,H,W) -> (C,H,W): `image` cut into `grid` x `grid` tiles in a random order (torch's global RNG). When a side
    does not divide by `grid`, the few leftover rows or columns at the bottom and right stay where they were."""
    channels = image.shape[0]
    tile_height, tile_width = image.shape[1] // grid, image.shape[2] // grid
    height, width = tile_height * grid, tile_width * grid
    tiles = image[:, :height, :width].unfold(1, tile_height, tile_height).unfold(2, tile_width, tile_width)  # (C, grid, grid, th, tw)
    tiles = tiles.reshape(channels, grid * grid, tile_height, tile_width)[:, torch.randperm(grid * grid)]
    shuffled = image.clone()
    shuffled[:, :height, :width] = tiles.reshape(channels, grid, grid, tile_height, tile_width).permute(0, 1, 3, 2, 4).reshape(channels, height, width)
    return shuffled


class ShuffledTiles(Dataset):
    """`count` tile-shuffled views of random items of `views` (an augmented dataset of known photos), all labelled
    `label`. Every access draws a new photo and a new order from torch's global RNG, which the fit loop reseeds
    each epoch."""

    def __init__(self, views: Dataset, label: int, count: int, grid: int = 4):
        self.views = views
        self.label = label
        self.count = count
        self.grid = grid

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image, _ = self.views[int(torch.randint(len(self.views), ()))]
        return shuffle_tiles(image, self.grid), self.label
