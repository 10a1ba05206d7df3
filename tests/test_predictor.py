import subprocess
import textwrap

import pytest
import torch

from conftest import PYTHON
from landmark_core import predictor as predictor_module
from landmark_core.models import ScratchCNN
from landmark_core.predictor import Predictor, export_predictor

CLASSES = ["Eiffel Tower", "Taj Mahal", "Stonehenge"]


def make_predictor() -> Predictor:
    torch.manual_seed(0)
    return Predictor(ScratchCNN(len(CLASSES)), CLASSES, mean=[0.5, 0.45, 0.4], std=[0.25, 0.25, 0.25], resize_size=73, crop_size=64)


@pytest.mark.parametrize("shape", [(1, 1), (37, 200), (120, 90)])
def test_any_input_size_gives_probabilities(shape):
    probabilities = make_predictor()(torch.randint(0, 256, (2, 3, *shape), dtype=torch.uint8))
    assert probabilities.shape == (2, len(CLASSES))
    assert torch.allclose(probabilities.sum(1), torch.ones(2))


def test_uint8_and_float_inputs_agree():
    image = torch.randint(0, 256, (1, 3, 80, 100), dtype=torch.uint8)
    model = make_predictor()
    assert torch.allclose(model(image), model(image.float() / 255), atol=1e-6)


def test_reloads_in_fresh_process_with_only_torch(tmp_path):
    eager = make_predictor()
    export_predictor(eager, tmp_path / "model.pt")
    image = torch.randint(0, 256, (1, 3, 90, 120), dtype=torch.uint8)
    torch.save(image, tmp_path / "image.pt")
    expected = eager(image)
    script = textwrap.dedent(
        f"""
        import sys, torch
        model = torch.jit.load({str(tmp_path / 'model.pt')!r})
        torch.save(model(torch.load({str(tmp_path / 'image.pt')!r})), {str(tmp_path / 'out.pt')!r})
        print(",".join(model.class_names))
        assert not [m for m in sys.modules if m.startswith(("landmark_core", "torchvision", "timm"))]
        """
    )
    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert done.stdout.strip() == ",".join(CLASSES)
    assert torch.allclose(torch.load(tmp_path / "out.pt"), expected, atol=1e-5)


def test_activation_map_and_crop_box():
    scripted = torch.jit.script(make_predictor())
    image = torch.randint(0, 256, (1, 3, 100, 200), dtype=torch.uint8)
    heatmap = scripted.activation_map(image, 1)
    assert heatmap.shape[0] == 1 and heatmap.min() >= 0 and heatmap.max() <= 1
    top, left, height, width = scripted.crop_box(100, 200)
    assert (height, width) == (88, 88) and top == 6 and left == 56


def test_crash_during_export_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    export_predictor(make_predictor(), path)
    before = path.read_bytes()

    def disk_full(module, target):
        with open(target, "wb") as half:
            half.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(predictor_module.torch.jit, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        export_predictor(make_predictor(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
