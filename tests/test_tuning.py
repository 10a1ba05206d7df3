"""Fine-tuning the transfer model's last layers over cached maps (models.TunedTop, optim's tuned lr)."""

import torch
from torch import nn
from torch.utils.data import TensorDataset

from landmark_core.models import TransferNet, TunedTop, tuned_features
from landmark_core.optim import FitConfig, optimizer_and_scheduler, transfer_tuning_config
from landmark_core.training import fit


class TinyBackbone(nn.Module):
    """timm's EfficientNet layout in miniature: frozen layers, then conv_head + bn2."""

    num_features = 6

    def __init__(self):
        super().__init__()
        self.frozen = nn.Conv2d(3, 4, 3, padding=1)
        self.conv_head = nn.Conv2d(4, 6, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(6)

    def forward_features(self, x):
        return torch.relu(self.bn2(self.conv_head(self.frozen(x))))


def tiny_top() -> tuple[TransferNet, TunedTop]:
    torch.manual_seed(0)
    model = TransferNet(TinyBackbone(), num_classes=2)
    with torch.no_grad():
        model.backbone.bn2.running_mean.uniform_(-1, 1)
        model.backbone.bn2.running_var.uniform_(0.5, 2)
    tuned = nn.Sequential(model.backbone.conv_head, model.backbone.bn2, nn.ReLU())
    return model, TunedTop(tuned, model.dropout, model.classifier)


def maps(n: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    values = torch.randn(n, 4, 3, 3, generator=generator) + 2 * labels[:, None, None, None].float()
    return TensorDataset(values.half(), labels)


def test_tuning_trains_the_shared_layers_and_keeps_the_batchnorm_statistics(tmp_path):
    model, top = tiny_top()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    config = FitConfig(epochs=3, batch_size=8, lr=0.05, weight_decay=0.0, seed=0, tuned_lr=0.01)
    fit(top, maps(64, 0), maps(16, 1), tmp_path, config)
    after = model.state_dict()
    changed = {name for name in after if not torch.equal(after[name], before[name])}
    assert {"backbone.conv_head.weight", "backbone.bn2.weight", "backbone.bn2.bias", "classifier.weight"} <= changed
    assert not changed & {"backbone.bn2.running_mean", "backbone.bn2.running_var", "backbone.frozen.weight"}


def test_the_top_reads_float16_maps_as_the_model_reads_its_own():
    model, top = tiny_top()
    model.eval(), top.eval()
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(top.pooled(model.backbone.frozen(x)), model.features(x).mean((2, 3)))
        torch.testing.assert_close(top(model.backbone.frozen(x).half()), model(x), atol=1e-2, rtol=0)


def test_tuned_features_are_the_pooled_features_in_eval_mode_whatever_the_batch():
    _, top = tiny_top()
    values = maps(10, 2).tensors[0]
    top.train()
    batched = tuned_features(top, values, batch_size=3)
    assert not top.training
    with torch.no_grad():
        torch.testing.assert_close(batched, top.pooled(values))


def test_train_mode_leaves_batchnorm_in_eval():
    _, top = tiny_top()
    top.train()
    assert top.classifier.training and top.dropout.training and top.tuned[0].training
    assert not top.tuned[1].training


def test_tuned_layers_get_their_own_learning_rate():
    _, top = tiny_top()
    config = transfer_tuning_config(2, 3, epochs=2, lr=1e-2, tuned_lr=1e-3)
    optimizer, _ = optimizer_and_scheduler(top, config, steps_per_epoch=4)
    head, tuned = optimizer.param_groups
    assert {id(p) for p in tuned["params"]} == {id(p) for p in top.tuned.parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in [*top.classifier.parameters()]}
    assert (head["max_lr"], tuned["max_lr"]) == (1e-2, 1e-3)
    untuned, = optimizer_and_scheduler(top, FitConfig(epochs=2), steps_per_epoch=4)[0].param_groups
    assert len(untuned["params"]) == len(list(top.parameters()))
