"""Real photos of other famous places and of everyday things, from the GCompris educational suite's Debian package.

The 20 other landmarks in ../shared/data are mostly Indian monuments; the models must also reject towers,
bridges, pyramids, castles, and photos of pets, tools and fish. GCompris's activities ship such photos (public
domain and CC-licensed Wikimedia photos, credited in the package's README files) inside Qt resource bundles.
`fetch_gcompris_photos(dest)` downloads the package once (pinned version and SHA-256), reads the bundles and writes

    dest/places/<place>/*.jpg      89 photos of 71 famous places (named like the Udacity classes where they are one)
    dest/everyday/<subject>/*.jpg  179 photos of 98 subjects: animals, fish, tools, household things, power plants, musicians

resized like ../shared/data (RGB JPEG, short side at most 288 px). Folders name what a photo shows, so training
splits them by place or subject (landmark_core.negatives) and leaves out any place a model knows.
"""

from __future__ import annotations

import io
import re
import struct
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from PIL import Image

from landmark_core.download import DownloadError, fetch_file
from landmark_core.images import load_rgb

DEB_URLS = (
    "https://deb.debian.org/debian/pool/main/g/gcompris-qt/gcompris-qt-data_3.1-2_all.deb",
    "https://snapshot.debian.org/archive/debian/20250520T000000Z/pool/main/g/gcompris-qt/gcompris-qt-data_3.1-2_all.deb",
)
DEB_SHA256 = "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f"
MARKER = ".gcompris_photos_complete"
SHORT_SIDE = 288

_RCC_DIR = "usr/share/gcompris-qt/rcc"
_ACTIVITIES = "gcompris/src/activities"
# Monument photos, by folder; the "details" activity's full pictures are "<name>_background" (the rest are pieces).
_PLACE_FOLDERS = (
    "categorization/resource/images/monuments",
    "explore_monuments/resource/egypt",
    "explore_monuments/resource/france",
    "explore_monuments/resource/germany",
    "explore_monuments/resource/india",
    "explore_monuments/resource/usa",
    "explore_monuments/resource/wonders",
    "details/resource/image",
)
_PAINTINGS = ("Eglise_dAuvers-sur-Oise", "Gogh4", "PortraitOfPereTanguy", "Van_Gogh", "VincentVanGogh")
# One name per place across activities; the Udacity classes' names where the place is one of the 50.
_PLACE_NAMES = {
    "eiffeltower": "eiffel_tower", "toureiffel": "eiffel_tower", "tajmahal": "taj_mahal",
    "greatwall": "great_wall_of_china", "greatwallofchina": "great_wall_of_china", "gatewayofindia": "gateway_of_india",
    "machupicchu": "machu_picchu", "mountrushmore": "mount_rushmore_national_memorial", "pontdugard": "pont_du_gard",
    "operahouse": "sydney_opera_house", "operasidney": "sydney_opera_house",
    "greatpyramid": "giza_pyramids", "greatpyramidofgiza": "giza_pyramids", "gizahpyramids": "giza_pyramids",
    "kutubminar": "qutub_minar", "qutubminar": "qutub_minar", "ajantacave": "ajanta_caves", "konarksuntemple": "sun_temple_konark",
    "indiagate": "india_gate", "chateaudechenonceau": "chenonceau", "neuschwansteincastle": "neuschwanstein",
    "ndp": "notre_dame_de_paris", "louvre_2007_02_24_c": "louvre", "lemusee": "louvre", "egeskovslotspejling": "egeskov_castle",
    "statueofliberty": "statue_of_liberty", "canyondechelly": "canyon_de_chelly", "castillodesanmarcos": "castillo_de_san_marcos",
    "citedecarcassonne": "cite_de_carcassonne", "chateaudechambord": "chateau_de_chambord", "palaisdespapes": "palais_des_papes",
}
# Everyday photos, by folder: a photo's subject is the folder's prefix plus its name without digits.
_EVERYDAY_FOLDERS = {
    "erase/resource": "animal",
    "explore_world_animals/resource/animals": "animal",
    "explore_farm_animals/resource/animals": "animal",
    "categorization/resource/images/fishes": "fish",
    "categorization/resource/images/tools": "tool",
    "categorization/resource/images/others": "household",
    "categorization/resource/images/renewable": "energy",
    "explore_world_music/resource/music": "music",
}


def fetch_gcompris_photos(dest: str | Path, timeout: float = 60) -> Path:
    """`dest`, holding places/ and everyday/ photo folders; downloaded and written once, atomically."""
    dest = Path(dest).expanduser().absolute()
    if (dest / MARKER).is_file():
        return dest
    if dest.exists():
        raise DownloadError(f"{dest} exists but holds no complete set of GCompris photos: move it away and run again.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as temporary:
        package = Path(temporary) / PurePosixPath(DEB_URLS[0]).name
        _download(package, timeout)
        written = Path(temporary) / "photos"
        write_photos(_rcc_bundles(package.read_bytes()), written)
        (written / MARKER).touch()
        written.rename(dest)
    return dest


def _download(package: Path, timeout: float) -> None:
    advice = f"Download {DEB_URLS[0]} by hand, or train without these photos (--gcompris '')."
    errors = []
    for url in DEB_URLS:
        try:
            return fetch_file(url, package, timeout, DEB_SHA256, "The GCompris photo package", advice)
        except DownloadError as error:
            errors.append(str(error))
    raise DownloadError(" / ".join(errors))


def write_photos(bundles: dict[str, bytes], dest: Path) -> None:
    """Write the chosen photos of the resource bundles (name -> bytes) as JPEGs under dest/places and dest/everyday."""
    for bundle in bundles.values():
        for resource, data in sorted(rcc_files(bundle).items()):
            relative = photo_path(resource)
            if relative is not None:
                _save_jpeg(data, dest / relative)


def photo_path(resource: str) -> PurePosixPath | None:
    """Where a bundle's file goes ('places/colosseum/categorization-colosseum.jpg'), or None: not a photo we take."""
    path = PurePosixPath(resource)
    folder, stem = str(path.parent).removeprefix(f"{_ACTIVITIES}/"), path.stem
    activity = folder.split("/")[0]
    if path.suffix != ".webp":
        return None
    if folder in _PLACE_FOLDERS:
        if folder.startswith("details/"):
            if not stem.endswith("_background"):
                return None  # a puzzle piece
            stem = stem.removesuffix("_background")
        return None if stem.startswith(_PAINTINGS) else PurePosixPath("places", place_name(stem), f"{activity}-{stem}.jpg")
    if folder in _EVERYDAY_FOLDERS:
        thing = _snake(re.sub(r"[0-9]+$", "", stem)).replace("chamaeleon", "chameleon")
        return PurePosixPath("everyday", f"{_EVERYDAY_FOLDERS[folder]}_{thing}", f"{activity}-{stem}.jpg")
    return None


def place_name(stem: str) -> str:
    """A file's place: 'arcDeTriomphe' -> 'arc_de_triomphe', 'greatWallofChina' -> 'great_wall_of_china'."""
    return _PLACE_NAMES.get(stem.lower(), _snake(stem))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").lower()


def _save_jpeg(data: bytes, out: Path) -> None:
    photo = load_rgb(data)  # the app's decoding: transparent cut-outs over white
    scale = SHORT_SIDE / min(photo.size)
    if scale < 1:
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC)
    out.parent.mkdir(parents=True, exist_ok=True)
    photo.save(out, quality=92)


def _rcc_bundles(deb: bytes) -> dict[str, bytes]:
    """The Qt resource bundles (name -> bytes) inside a .deb: an ar archive whose data.tar.* holds them."""
    members = _ar_members(deb)
    data = next((blob for name, blob in members.items() if name.startswith("data.tar")), None)
    if data is None:
        raise DownloadError("The GCompris package holds no data.tar: not the expected .deb.")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            PurePosixPath(member.name).name: tar.extractfile(member).read()
            for member in tar.getmembers()
            if member.isfile() and member.name.removeprefix("./").startswith(_RCC_DIR) and member.name.endswith(".rcc")
        }


def _ar_members(archive: bytes) -> dict[str, bytes]:
    if not archive.startswith(b"!<arch>\n"):
        raise DownloadError("The GCompris package is not a .deb (ar) archive.")
    members, offset = {}, 8
    while offset + 60 <= len(archive):
        header = archive[offset : offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        members[name] = archive[offset + 60 : offset + 60 + size]
        offset += 60 + size + size % 2
    return members


def rcc_files(bundle: bytes) -> dict[str, bytes]:
    """The files (path -> bytes) of a compiled Qt resource bundle (rcc format 1-3; zlib-compressed entries inflated)."""
    if bundle[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", bundle[4:20])
    node_size = 14 if version == 1 else 22  # format 2 added a modification time to every node

    def name_at(offset: int) -> str:
        length = struct.unpack(">H", bundle[names + offset : names + offset + 2])[0]
        return bundle[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}

    def walk(node: int, prefix: str) -> None:
        at = tree + node * node_size
        name_offset, flags = struct.unpack(">IH", bundle[at : at + 6])
        path = f"{prefix}/{name_at(name_offset)}" if node else ""
        if flags & 2:  # a directory: child count, first child
            count, first = struct.unpack(">II", bundle[at + 6 : at + 14])
            for child in range(first, first + count):
                walk(child, path)
            return
        start = data + struct.unpack(">I", bundle[at + 10 : at + 14])[0]
        size = struct.unpack(">I", bundle[start : start + 4])[0]
        blob = bundle[start + 4 : start + 4 + size]
        files[path.lstrip("/")] = zlib.decompress(blob[4:]) if flags & 1 else blob

    walk(0, "")
    return files
