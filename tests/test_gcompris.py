"""The GCompris photos: a miniature .deb (ar -> data.tar.xz -> Qt resource bundles of WebP photos) read from a
file:// URL, so no test touches the network; and how training splits them."""

import hashlib
import io
import struct
import tarfile
import zlib
from argparse import Namespace
from pathlib import Path

import pytest
from PIL import Image

from conftest import synthetic_photo
from landmark_core import cli, gcompris
from landmark_core.download import DownloadError
from landmark_core.gcompris import MARKER, fetch_gcompris_photos, rcc_files
from landmark_core.negatives import HeldOutFold

ACTIVITIES = "gcompris/src/activities"
RESOURCES = {
    f"{ACTIVITIES}/categorization/resource/images/monuments/colosseum.webp": 1,
    f"{ACTIVITIES}/explore_monuments/resource/wonders/colosseum.webp": 2,
    f"{ACTIVITIES}/explore_monuments/resource/wonders/greatWallofChina.webp": 3,
    f"{ACTIVITIES}/explore_monuments/resource/france/arlesAmphitheater.webp": 4,
    f"{ACTIVITIES}/details/resource/image/TowerBridgeLondon_background.webp": 5,
    f"{ACTIVITIES}/details/resource/image/TowerBridgeLondon_0.webp": 6,  # a puzzle piece, not a photo
    f"{ACTIVITIES}/details/resource/image/VincentVanGoghBridge_background.webp": 7,  # a painting
    f"{ACTIVITIES}/categorization/resource/images/tools/hammer1.webp": 8,
    f"{ACTIVITIES}/categorization/resource/images/tools/hammer2.webp": 9,
    f"{ACTIVITIES}/erase/resource/kitten.webp": 10,
    f"{ACTIVITIES}/lang/resource/words_sample/apple.webp": 11,  # clip art: not taken
}


def webp(seed: int, size=(400, 320)) -> bytes:
    out = io.BytesIO()
    synthetic_photo(seed % 5, seed, size).save(out, format="WEBP")
    return out.getvalue()


def rcc_bundle(files: dict[str, bytes], compress: bool = True) -> bytes:
    """A format-1 Qt resource bundle: a tree whose folders list their children contiguously, names, data."""
    tree: dict = {}
    for path, data in files.items():
        *folders, name = path.split("/")
        node = tree
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = data
    names, data_blob, nodes = bytearray(), bytearray(), [None]

    def name_offset(name: str) -> int:
        offset = len(names)
        names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        return offset

    queue = [(0, tree)]
    while queue:
        index, folder = queue.pop(0)
        first = len(nodes)
        nodes.extend([None] * len(folder))
        nodes[index] = (nodes[index][0] if index else 0, 2, struct.pack(">II", len(folder), first))
        for position, (name, child) in enumerate(sorted(folder.items())):
            if isinstance(child, dict):
                nodes[first + position] = (name_offset(name), 2, b"")
                queue.append((first + position, child))
            else:
                payload = struct.pack(">I", len(child)) + zlib.compress(child) if compress else child
                nodes[first + position] = (name_offset(name), 1 if compress else 0, struct.pack(">HHI", 0, 0, len(data_blob)))
                data_blob.extend(struct.pack(">I", len(payload)) + payload)
    tree_blob = b"".join(struct.pack(">IH", offset, flags) + rest for offset, flags, rest in nodes)
    tree_at = 20
    data_at = tree_at + len(tree_blob)
    names_at = data_at + len(data_blob)
    return b"qres" + struct.pack(">IIII", 1, tree_at, data_at, names_at) + tree_blob + bytes(data_blob) + bytes(names)


def deb(bundles: dict[str, bytes]) -> bytes:
    """A .deb: an ar archive of debian-binary, control.tar.xz and data.tar.xz holding the bundles."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        for name, blob in bundles.items():
            info = tarfile.TarInfo(f"./usr/share/gcompris-qt/rcc/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    members = {"debian-binary": b"2.0\n", "control.tar.xz": b"", "data.tar.xz": data.getvalue()}
    archive = bytearray(b"!<arch>\n")
    for name, blob in members.items():
        archive.extend(f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(blob):<10}`\n".encode())
        archive.extend(blob + b"\n" * (len(blob) % 2))
    return bytes(archive)


@pytest.fixture
def package(tmp_path, monkeypatch) -> Path:
    """The miniature package, served from a file:// URL with its real checksum pinned."""
    split = list(RESOURCES.items())
    bundles = {
        "monuments.rcc": rcc_bundle({path: webp(seed) for path, seed in split[:7]}),
        "everyday.rcc": rcc_bundle({path: webp(seed) for path, seed in split[7:]}, compress=False),
    }
    path = tmp_path / "gcompris-qt-data.deb"
    path.write_bytes(deb(bundles))
    monkeypatch.setattr(gcompris, "DEB_URLS", (path.as_uri(),))
    monkeypatch.setattr(gcompris, "DEB_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    return path


def test_rcc_files_reads_plain_and_compressed_entries():
    files = {"a/b/one.txt": b"one", "a/two.txt": b"two" * 100, "three.txt": b""}
    assert rcc_files(rcc_bundle(files)) == files
    assert rcc_files(rcc_bundle(files, compress=False)) == files


def test_fetch_writes_photos_by_place_and_subject(package, tmp_path):
    root = fetch_gcompris_photos(tmp_path / "gcompris")
    assert (root / MARKER).is_file()
    photos = sorted(str(path.relative_to(root)) for path in root.rglob("*.jpg"))
    assert photos == [
        "everyday/animal_kitten/erase-kitten.jpg",
        "everyday/tool_hammer/categorization-hammer1.jpg",
        "everyday/tool_hammer/categorization-hammer2.jpg",
        "places/arles_amphitheater/explore_monuments-arlesAmphitheater.jpg",
        "places/colosseum/categorization-colosseum.jpg",
        "places/colosseum/explore_monuments-colosseum.jpg",
        "places/great_wall_of_china/explore_monuments-greatWallofChina.jpg",  # named as the Udacity class
        "places/tower_bridge_london/details-TowerBridgeLondon.jpg",
    ]
    with Image.open(root / photos[0]) as photo:
        assert photo.format == "JPEG" and photo.mode == "RGB" and min(photo.size) == gcompris.SHORT_SIDE
    assert fetch_gcompris_photos(tmp_path / "gcompris") == root  # fetched once


def test_a_corrupt_package_leaves_nothing_behind(package, tmp_path, monkeypatch):
    monkeypatch.setattr(gcompris, "DEB_SHA256", "0" * 64)
    with pytest.raises(DownloadError, match="SHA-256"):
        fetch_gcompris_photos(tmp_path / "gcompris")
    assert not (tmp_path / "gcompris").exists() and not list(tmp_path.glob(".gcompris*"))


def test_training_never_learns_a_known_place_and_holds_out_the_fold_asked_for(package, tmp_path, image_folders):
    root = fetch_gcompris_photos(tmp_path / "gcompris")
    other = tmp_path / "other"
    for landmark in ("arles_amphitheater", *[f"place_{i}" for i in range(8)]):  # one place both sources have
        (other / landmark).mkdir(parents=True)
        synthetic_photo(1, 1).save(other / landmark / "a.jpg")
    prepared = Namespace(train=Namespace(class_folders=["00.Great_Wall_of_China", "01.Synthetic_Place"]))
    args = Namespace(negatives=other, gcompris=root, seed=0, run_dir=tmp_path / "run", valid_landmarks=4, gcompris_held_out=HeldOutFold(0, 2))
    landmarks, places, everyday = cli.negatives(args, 64, prepared)
    assert landmarks.kind == "landmarks" and len(landmarks.split.test) == 4
    assert sorted(places.split.train + places.split.test) == ["colosseum", "tower_bridge_london"]
    assert len(places.split.test) == 1 and not places.split.valid
    assert sorted(everyday.split.train + everyday.split.test) == ["animal_kitten", "tool_hammer"]
    assert len(everyday.split.test) == 1 and everyday.kind == "everyday photos (GCompris)"


def test_no_gcompris_folder_means_none(tmp_path):
    args = Namespace(negatives=tmp_path / "absent", gcompris=Path(""), seed=0, run_dir=tmp_path, valid_landmarks=4, gcompris_held_out=HeldOutFold(0, 0))
    assert cli.negatives(args, 64, Namespace(train=Namespace(class_folders=["00.A"]))) == []


def test_a_gcompris_folder_without_everyday_photos_gives_places_only(tmp_path):
    root = tmp_path / "gcompris"
    for place in ("colosseum", "parthenon", "petra_like"):
        (root / "places" / place).mkdir(parents=True)
        synthetic_photo(2, 2).save(root / "places" / place / "a.jpg")
    (root / MARKER).touch()
    # the training scripts' default: every place trains, none held out
    args = Namespace(negatives=tmp_path / "absent", gcompris=root, seed=0, run_dir=tmp_path / "run", valid_landmarks=4, gcompris_held_out=HeldOutFold(0, 0))
    (places,) = cli.negatives(args, 64, Namespace(train=Namespace(class_folders=["00.A"])))
    assert places.kind == "places (GCompris)" and places.split.test == [] and len(places.split.train) == 3
