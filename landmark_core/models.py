"""The two classifiers, and the part of the transfer one that trains. Both end in `features -> global average pool
-> dropout -> classifier (Linear)`, so a class activation map (the heatmap of what the model looked at) is exact for
either."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut: trains stably from scratch with few epochs."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(in_channels, out_channels, stride),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ScratchCNN(nn.Module):
    """A small residual CNN for a 2-core CPU budget; global pooling makes any input size work."""

    def __init__(self, num_classes: int, widths: Sequence[int] = (32, 64, 128, 256, 384), dropout: float = 0.3):
        super().__init__()
        stages: list[nn.Module] = [conv_bn_relu(3, widths[0], stride=2), conv_bn_relu(widths[0], widths[0])]
        stages += [ResidualBlock(a, b, stride=2) for a, b in zip(widths[:-1], widths[1:])]
        self.body = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(widths[-1], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.features(x).mean((2, 3))))


class TransferNet(nn.Module):
    """A pretrained timm backbone's feature map + a new linear head for our classes."""

    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(backbone.num_features, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.backbone.forward_features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.features(x).mean((2, 3))))


class TunedTop(nn.Module):
    """What trains in the transfer model: its backbone's tuned layers (backbones.split_for_tuning) and its head, fed
    cached feature maps of the frozen layers before them. It shares those modules with the TransferNet, so training
    it trains the TransferNet."""

    def __init__(self, tuned: nn.Module, dropout: nn.Module, classifier: nn.Linear):
        super().__init__()
        self.tuned = tuned
        self.dropout = dropout
        self.classifier = classifier

    def pooled(self, maps: Tensor) -> Tensor:
        """(N,D) the TransferNet's pooled features from (N,C,h,w) maps of its frozen layers (float16 or float32)."""
        return self.tuned(maps.float()).mean((2, 3))

    def forward(self, maps: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.pooled(maps)))

    def train(self, mode: bool = True) -> "TunedTop":
        # BatchNorm keeps ImageNet's statistics and learns only its scale and shift: batch statistics of a few
        # hundred landmark photos would shift every feature the frozen layers' maps produce.
        super().train(mode)
        for module in self.tuned.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


@torch.inference_mode()
def tuned_features(top: TunedTop, maps: Tensor, batch_size: int = 512) -> Tensor:
    """(N,D) a trained TunedTop's pooled features of cached maps, in batches (all at once, Lite0's 1280x7x7 float32
    output for thousands of views would take gigabytes): what its head reads."""
    top.eval()
    return torch.cat([top.pooled(maps[start : start + batch_size]) for start in range(0, len(maps), batch_size)])


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def class_activation_map(features: Tensor, classifier_weight: Tensor, class_index: int) -> Tensor:
    """(N,C,h,w) feature map -> (N,h,w) in [0,1]: where the evidence for `class_index` lies."""
    cam = torch.relu(torch.einsum("nchw,c->nhw", features, classifier_weight[class_index]))
    peak = cam.flatten(1).max(1).values.clamp_min(1e-8)
    return cam / peak.view(-1, 1, 1)
