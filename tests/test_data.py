import pytest
import torch

from landmark_core import data


def test_find_images_lists_classes_in_folder_order(image_folders):
    train = data.find_images(image_folders, "train")
    assert train.class_folders == ["00.Synthetic_Place_0", "01.Synthetic_Place_1", "02.Synthetic_Place_2"]
    assert len(train) == 36 and sorted(set(train.labels)) == [0, 1, 2]
    test = data.find_images(image_folders, "test", train.class_folders)
    assert len(test) == 12


def test_test_split_with_unknown_class_is_refused(image_folders):
    (image_folders / "test" / "99.Elsewhere").mkdir()
    train = data.find_images(image_folders, "train")
    with pytest.raises(data.DatasetError, match="99.Elsewhere"):
        data.find_images(image_folders, "test", train.class_folders)


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_data_folder_names_the_expected_layout(tmp_path, make):
    if make == "empty":
        (tmp_path / "train" / "00.Nothing_Here").mkdir(parents=True)
    with pytest.raises(data.DatasetError, match=r"train/<NN.Class_Name>/\*.jpg"):
        data.find_images(tmp_path, "train")


def test_stratified_split_is_seeded_disjoint_and_keeps_every_class():
    labels = [0] * 20 + [1] * 10 + [2] * 3
    train, valid = data.stratified_split(labels, 0.2, seed=1)
    assert set(train).isdisjoint(valid) and sorted(train + valid) == list(range(len(labels)))
    assert sorted({labels[i] for i in valid}) == [0, 1, 2]
    assert [labels[i] for i in valid].count(0) == 4
    assert data.stratified_split(labels, 0.2, seed=1) == (train, valid)
    assert data.stratified_split(labels, 0.2, seed=2) != (train, valid)


def test_decode_images_resizes_short_side_and_caches_on_disk(image_folders, tmp_path):
    files = data.find_images(image_folders, "train").files[:5]
    decoded = data.decode_images(files, 48, cache_dir=tmp_path / "cache")
    assert all(image.dtype == torch.uint8 and min(image.shape[1:]) == 48 for image in decoded)
    assert len(list((tmp_path / "cache").glob("decoded-*.pt"))) == 1
    again = data.decode_images(files, 48, cache_dir=tmp_path / "cache")
    assert all(torch.equal(a, b) for a, b in zip(decoded, again))


def test_channel_stats_of_constant_images():
    images = [torch.full((3, 4, 4), 51, dtype=torch.uint8), torch.full((3, 2, 2), 102, dtype=torch.uint8)]
    mean, std = data.channel_stats(images)
    expected = (16 * 0.2 + 4 * 0.4) / 20
    assert mean == pytest.approx([expected] * 3)
    assert std[0] > 0


@pytest.mark.parametrize("shape", [(1, 1), (300, 400), (50, 500), (224, 224)])
def test_preprocess_accepts_any_size_and_uint8_or_float(shape):
    image = torch.randint(0, 256, (1, 3, *shape), dtype=torch.uint8)
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.2, 0.2])
    from_uint8 = data.preprocess(image, 146, 128, mean, std)
    from_float = data.preprocess(image.float() / 255, 146, 128, mean, std)
    assert from_uint8.shape == (1, 3, 128, 128)
    assert torch.allclose(from_uint8, from_float, atol=1e-5)


def test_train_transform_gives_normalized_crops(image_folders):
    image = data.decode_images(data.find_images(image_folders, "train").files[:1], 64)[0]
    out = data.train_transform(56, [0.5] * 3, [0.25] * 3)(image)
    assert out.shape == (3, 56, 56) and out.dtype == torch.float32


def test_default_data_dir_prefers_shared_tree():
    assert data.default_data_dir() in (data.SHARED_DATA_DIR, data.DOWNLOAD_DATA_DIR)
    if data.SHARED_DATA_DIR.is_dir():
        assert data.default_data_dir() == data.SHARED_DATA_DIR
