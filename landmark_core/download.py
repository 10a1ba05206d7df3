"""Fetch the Udacity landmark dataset (4,996 train / 1,250 test photos of 50 landmarks) once, safely.

`download_dataset(dest)` leaves `dest/train/NN.Name/*.jpg` and `dest/test/NN.Name/*.jpg`, or raises
DownloadError and leaves nothing: the zip is streamed to a temporary file beside `dest`, checked,
unpacked into a temporary folder beside `dest`, and only then renamed to `dest` in one step.
A folder that already holds the dataset is returned as is, without touching the network.

What "checked" means: Udacity publishes no checksum for this zip and we cannot fetch it to measure
one, so there is no built-in SHA-256. We verify what can be verified without one: the file is a
zip whose every member passes its CRC-32 (ZipFile.testzip), no member path escapes the folder it is
unpacked into, and it has train/ and test/ class folders holding JPEGs. A caller who knows the
SHA-256 of their copy can pass `sha256=` and it is checked too.

Photo counts that differ from 4,996 / 1,250 only warn: the CRC check already proves the archive is
intact as packed, so a different count means a re-published or trimmed set, which still trains.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

DATASET_URL = "https://udacity-dlnfd.s3-us-west-1.amazonaws.com/datasets/landmark_images.zip"
EXPECTED_COUNTS = {"train": 4996, "test": 1250}
SPLITS = ("train", "test")
# Written into the dataset root just before it is moved into place, so its presence means the
# folder came from a verified, complete unpack. Its absence is fine (e.g. the user unzipped by hand).
MARKER = ".landmark_lens_complete"

_CLASS_FOLDER = re.compile(r"\d+\..+")
_IMAGE_SUFFIXES = (".jpg", ".jpeg")
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """The dataset could not be fetched or was not usable; str(error) says what to do instead."""


def download_dataset(
    dest: Path,
    url: str = DATASET_URL,
    timeout: float = 30,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Return the dataset root (a folder with train/ and test/), downloading it into `dest` if needed.

    `timeout` bounds the connection and every read, so a dead or silent server fails instead of hanging.
    """
    dest = Path(dest).expanduser().absolute()
    existing = find_dataset_root(dest)
    if existing is not None:
        return existing
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        # Never overwrite or delete something we did not create.
        raise DownloadError(
            f"{dest} already exists but does not hold the landmark dataset (no train/ and test/ "
            "class folders). Move it away, or pass --data-dir pointing at a folder that holds the dataset."
        )

    # Temporaries go beside dest (same filesystem) so the final rename is atomic, and start with a dot
    # so a crash mid-way leaves nothing that looks like a dataset.
    dest.parent.mkdir(parents=True, exist_ok=True)
    zip_fd, zip_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".zip.part")
    os.close(zip_fd)
    zip_path = Path(zip_name)
    unpack_dir: Path | None = None
    try:
        fetch_file(url, zip_path, timeout, sha256, "The landmark dataset", _advice(url, dest), progress)
        unpack_dir = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.unpack-"))
        root = _verify_and_unpack(zip_path, unpack_dir, url, dest)
        if dest.is_dir():
            dest.rmdir()  # checked empty above; a rename cannot replace it on every OS
        os.replace(root, dest)
        return dest
    finally:
        zip_path.unlink(missing_ok=True)
        if unpack_dir is not None:
            shutil.rmtree(unpack_dir, ignore_errors=True)


def find_dataset_root(folder: Path) -> Path | None:
    """`folder` if it holds train/ and test/ class folders with images, or the `landmark_images/`
    inside it (what unzipping the file by hand gives); otherwise None."""
    folder = Path(folder)
    for candidate in (folder, folder / "landmark_images"):
        if all(_has_class_folders(candidate / split) for split in SPLITS):
            return candidate
    return None


def _has_class_folders(split_dir: Path) -> bool:
    if not split_dir.is_dir():
        return False
    for class_dir in split_dir.iterdir():
        if class_dir.is_dir() and _CLASS_FOLDER.fullmatch(class_dir.name):
            if any(f.suffix.lower() in _IMAGE_SUFFIXES for f in class_dir.iterdir()):
                return True
    return False


def _advice(url: str, dest: Path) -> str:
    return (
        f"Instead, download {url} by hand (browser or curl) and unzip it so that {dest}/train and "
        f"{dest}/test exist, or pass --data-dir pointing at a folder that already holds train/ and test/."
    )


def fetch_file(url: str, out: Path, timeout: float, sha256: str | None, what: str, advice: str, progress: bool = True) -> None:
    """Stream `url` into `out`, checking its SHA-256 when given; any trouble becomes a DownloadError naming `what`
    and the URL, and ending with `advice` (what to do instead)."""

    def failed(reason) -> DownloadError:
        return DownloadError(f"{what} could not be downloaded from {url}: {reason}. {advice}")

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, out.open("wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"Downloading {PurePosixPath(url).name}",
                disable=not progress,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise failed(f"the connection ended after {received:,} of {total:,} bytes")
    except urllib.error.HTTPError as error:
        raise failed(f"the server answered HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        # URLError: refused / no route / DNS; TimeoutError (an OSError): server silent for `timeout` s;
        # HTTPException: a broken HTTP reply; ValueError: a malformed URL.
        reason = getattr(error, "reason", None) or error
        if isinstance(reason, TimeoutError) or isinstance(error, TimeoutError):
            reason = f"no answer within {timeout:g} s ({reason})"
        raise failed(reason) from error

    if sha256 is not None and digest.hexdigest() != sha256.strip().lower():
        raise DownloadError(
            f"The file downloaded from {url} has SHA-256 {digest.hexdigest()}, not the expected "
            f"{sha256.strip().lower()}; it is corrupt or a different file. {advice}"
        )


def _verify_and_unpack(zip_path: Path, unpack_dir: Path, url: str, dest: Path) -> Path:
    """Check the zip and unpack it into `unpack_dir`; return the folder inside that holds train/ and test/."""

    def unusable(reason: str) -> DownloadError:
        return DownloadError(
            f"The file downloaded from {url} is not a usable landmark dataset: {reason}. {_advice(url, dest)}"
        )

    try:
        with zipfile.ZipFile(zip_path) as archive:
            bad_member = archive.testzip()  # reads every member and checks its CRC-32
            if bad_member is not None:
                raise unusable(f"{bad_member!r} fails its CRC check (the download is corrupt)")
            members = archive.infolist()
            prefix, counts = _check_layout(members, unusable)
            archive.extractall(unpack_dir, members=[m for m in members if _is_dataset_member(m, prefix)])
    except DownloadError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        # RuntimeError / NotImplementedError: encrypted members or compression zipfile cannot read.
        raise unusable(f"it is not a readable zip archive ({error})") from error

    if counts != EXPECTED_COUNTS:
        warnings.warn(
            f"The dataset from {url} has {counts['train']} train / {counts['test']} test photos; the "
            f"Udacity set has {EXPECTED_COUNTS['train']} / {EXPECTED_COUNTS['test']}. Using it anyway.",
            stacklevel=3,
        )
    root = unpack_dir.joinpath(*prefix)
    (root / MARKER).write_text(f"url={url}\ntrain={counts['train']}\ntest={counts['test']}\n", encoding="utf-8")
    return root


def _member_parts(name: str) -> tuple[str, ...]:
    return PurePosixPath(name.replace("\\", "/")).parts


def _is_junk(parts: tuple[str, ...]) -> bool:
    # Zips made on a Mac carry resource-fork copies ("__MACOSX/...", "._photo.jpg") that are not photos.
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1].startswith("._"))


def _is_dataset_member(member: zipfile.ZipInfo, prefix: tuple[str, ...]) -> bool:
    parts = _member_parts(member.filename)
    return parts[: len(prefix)] == prefix and len(parts) > len(prefix) and parts[len(prefix)] in SPLITS and not _is_junk(parts)


def _check_layout(members: list[zipfile.ZipInfo], unusable) -> tuple[tuple[str, ...], dict[str, int]]:
    """Reject unsafe paths; find the folder holding train/ and test/; count photos per split."""
    prefixes: set[tuple[str, ...]] = set()
    counts = {split: 0 for split in SPLITS}
    classes: dict[str, set[str]] = {split: set() for split in SPLITS}
    for member in members:
        name = member.filename
        parts = _member_parts(name)
        # Zip-slip: a member like "../../.bashrc" or "/etc/x" would be written outside the unpack
        # folder. zipfile would sanitise it, but an archive containing one is not the one we expect.
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
            raise unusable(f"it contains an unsafe path {name!r}")
        if _is_junk(parts) or member.is_dir() or not name.lower().endswith(_IMAGE_SUFFIXES):
            continue
        # .../<split>/<NN.Class>/<photo>.jpg
        if len(parts) >= 3 and parts[-3] in SPLITS and _CLASS_FOLDER.fullmatch(parts[-2]):
            prefixes.add(parts[:-3])
            counts[parts[-3]] += 1
            classes[parts[-3]].add(parts[-2])

    missing = [split for split in SPLITS if not classes[split]]
    if missing:
        raise unusable(f"it has no {' or '.join(f'{s}/NN.Class/*.jpg' for s in missing)} photos")
    if len(prefixes) != 1:
        raise unusable(f"its photos sit under more than one top folder ({sorted('/'.join(p) or '.' for p in prefixes)})")
    return prefixes.pop(), counts
