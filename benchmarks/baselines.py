"""The course's recipes, as baselines for ours: its plain 3-block CNN trained its way, the same CNN trained by
our scratch recipe (what the architecture alone buys), and a frozen EfficientNet-Lite0 with a linear head
trained through the backbone every epoch. Trained in benchmarks/training_cost.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torchvision.transforms import v2

from landmark_core import backbones, data
from landmark_core.models import TransferNet
from landmark_core.optim import PLATEAU, FitConfig

COURSE_BATCH = 32  # the course starter's batch size
COURSE_CNN = "course CNN (conv16-conv32-conv64, each + max-pool; Linear(500), dropout 0.25, Linear(classes))"


class CourseCNN(nn.Module):
    """The course's simple CNN: 3 x (conv 3x3 -> ReLU -> max-pool 2), flatten -> Linear(500) -> ReLU -> Dropout
    -> Linear(classes). A baseline, not a product model; its flatten size depends on the image size.

    The Predictor classifies `classifier(features(x) pooled)`, so `features` returns the 500 hidden units as a
    1x1 map: the course's flatten and MLP hide there, and `forward` computes exactly the course's network. Its
    heatmap is meaningless and never asked for.
    """

    def __init__(self, num_classes: int, image_size: int, dropout: float = 0.25):
        super().__init__()
        blocks: list[nn.Module] = []
        for in_channels, out_channels in ((3, 16), (16, 32), (32, 64)):
            blocks += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*blocks)
        side = image_size // 8
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, 500), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.classifier = nn.Linear(500, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.hidden(self.body(x))[:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


class FrozenBackboneLinear(TransferNet):
    """The course's transfer recipe: a frozen pretrained backbone and one linear layer, trained on images that go
    through the backbone every step (no feature cache, no augmented views). The backbone stays in eval mode, so
    training touches neither its weights nor its BatchNorm statistics."""

    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__(backbone.requires_grad_(False), num_classes, dropout=0.0)

    def train(self, mode: bool = True) -> FrozenBackboneLinear:
        super().train(mode)
        self.backbone.eval()
        return self


TrainView = Callable[[int, Sequence[float], Sequence[float]], Callable[[Tensor], Tensor]]  # (crop, mean, std) -> transform


def course_train_transform(crop_size: int, mean: Sequence[float], std: Sequence[float]) -> Callable[[Tensor], Tensor]:
    """The course's training view: a random crop of the photo decoded at 256/224 of the crop, and a random flip."""
    return v2.Compose([v2.RandomCrop(crop_size), v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


@dataclass(frozen=True)
class BaselineRecipe:
    name: str
    description: str
    fit_config: FitConfig
    normalization: Callable[[list[Tensor]], tuple[Sequence[float], Sequence[float]]]
    model: Callable[[int, int], nn.Module]  # (classes, image size) -> model
    train_view: TrainView | None  # None: the plain eval view of each photo every epoch
    resize_size: int  # the eval view's short side before the centre crop


def scratch_baselines(ours: dict) -> list[BaselineRecipe]:
    """The course's CNN trained the course's way (the target's baseline), then the same CNN trained as
    train_scratch.py trains ours (same fit, optimizer, augmentation and eval view): the architecture alone. Its
    crops are the eval size, not ours' smaller training size: the course's MLP fixes the input size."""
    epochs, image_size = ours["fit_config"]["epochs"], ours["image_size"]
    # The course starter's defaults: SGD lr 0.01 momentum 0.5, no weight decay, plain cross-entropy, batch 32,
    # ReduceLROnPlateau(factor 0.5, patience 2) and every epoch run, keeping the best validation-loss weights.
    course_fit = FitConfig(
        epochs=epochs, batch_size=COURSE_BATCH, lr=0.01, weight_decay=0.0, label_smoothing=0.0, patience=epochs,
        seed=ours["fit_config"]["seed"], schedule=PLATEAU, momentum=0.5,
    )
    return [
        BaselineRecipe(
            "course_recipe",
            f"{COURSE_CNN}; SGD, lr halved on plateaus, batch {COURSE_BATCH}, random crop + flip",
            course_fit, data.channel_stats, CourseCNN, course_train_transform, data.decode_size(image_size),
        ),
        BaselineRecipe(
            "course_cnn_our_recipe",
            f"{COURSE_CNN}; trained by train_scratch.py's recipe",
            FitConfig(**ours["fit_config"]), data.channel_stats, CourseCNN, data.train_transform, ours["resize_size"],
        ),
    ]


def transfer_baselines(ours: dict, epochs: int | None) -> list[BaselineRecipe]:
    """train_transfer.py's backbone, image size and head optimizer settings; batch 32 as in the course (more steps
    per epoch than our batch 256, which favours the baseline); the plain eval view of each photo every epoch."""
    # The baseline learns the known landmarks only: no "none of these" output to weigh.
    config = FitConfig(
        **{
            **ours["fit_config"], "batch_size": COURSE_BATCH, "epochs": epochs or ours["fit_config"]["epochs"], "class_weights": None,
            "tuned_lr": None,  # the course's backbone stays frozen
        }
    )
    backbone = ours["backbone"] or "efficientnet_lite0"
    return [
        BaselineRecipe(
            "frozen_linear",
            f"{backbone} (ImageNet weights, frozen, features recomputed every epoch) + linear head",
            config,
            lambda _images: (backbones.NORMALIZE_MEAN, backbones.NORMALIZE_STD),
            lambda classes, _size: FrozenBackboneLinear(backbones.load_backbone(backbone), classes),
            None,
            ours["resize_size"],
        )
    ]
