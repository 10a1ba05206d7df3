"""download_dataset against local servers only (127.0.0.1): no test here touches the internet."""

import hashlib
import http.server
import io
import socket
import threading
import time
import warnings
import zipfile
from contextlib import contextmanager

import pytest
from PIL import Image

from landmark_core import download
from landmark_core.download import MARKER, DownloadError, download_dataset

CLASSES = ("00.Alpha_Place", "01.Beta_Place", "02.Gamma_Place")
PER_SPLIT = {"train": 2, "test": 1}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # A proxy from the environment would swallow loopback requests; these tests talk to 127.0.0.1 directly.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


def _jpeg(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, format="JPEG")
    return out.getvalue()


def make_zip(splits=PER_SPLIT, prefix="landmark_images/", extra=(), compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A miniature of the real archive: <prefix><split>/<NN.Class>/<n>.jpg, with folder entries too."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        if prefix:
            zf.writestr(prefix, b"")
        for split, n in splits.items():
            zf.writestr(f"{prefix}{split}/", b"")
            for k, cls in enumerate(CLASSES):
                zf.writestr(f"{prefix}{split}/{cls}/", b"")
                for i in range(n):
                    zf.writestr(f"{prefix}{split}/{cls}/{i}.jpg", _jpeg((40 * k, 80, 20 * i)))
        for name, data in extra:
            zf.writestr(name, data)
    return out.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        entry = self.server.files.get(self.path)
        if entry is None:
            self.send_error(404, "Not Found")
            return
        body, declared = entry if isinstance(entry, tuple) else (entry, len(entry))
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):  # keep test output clean
        pass


@contextmanager
def serve(files):
    """Serve {path: bytes | (bytes, declared Content-Length)} on 127.0.0.1; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.files = files
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def refused_url() -> str:
    """A loopback URL with nothing listening: bind a free port, then release it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/landmark_images.zip"


@contextmanager
def silent_server():
    """A loopback port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/landmark_images.zip"


def assert_nothing_left(tmp_path):
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [], f"left behind: {leftovers}"


def assert_clear_message(error, url, dest):
    message = str(error)
    assert f"could not be downloaded from {url}" in message or f"downloaded from {url}" in message
    assert "by hand" in message and str(dest) in message and "--data-dir" in message


# --- network failures -------------------------------------------------------------------------


def test_refused_connection_fails_fast_with_clear_message(tmp_path):
    url, dest = refused_url(), tmp_path / "landmarks"
    start = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        download_dataset(dest, url=url, timeout=1, progress=False)
    assert time.monotonic() - start < 10
    assert f"The landmark dataset could not be downloaded from {url}" in str(caught.value)
    assert "refused" in str(caught.value).lower()
    assert_clear_message(caught.value, url, dest)
    assert_nothing_left(tmp_path)


def test_silent_server_times_out_instead_of_hanging(tmp_path):
    dest = tmp_path / "landmarks"
    with silent_server() as url:
        start = time.monotonic()
        with pytest.raises(DownloadError) as caught:
            download_dataset(dest, url=url, timeout=1, progress=False)
        assert time.monotonic() - start < 10
    assert "no answer within 1 s" in str(caught.value)
    assert_clear_message(caught.value, url, dest)
    assert_nothing_left(tmp_path)


def test_http_error_is_reported(tmp_path):
    dest = tmp_path / "landmarks"
    with serve({}) as base:
        url = f"{base}/missing.zip"
        with pytest.raises(DownloadError, match="HTTP 404") as caught:
            download_dataset(dest, url=url, timeout=5, progress=False)
    assert_clear_message(caught.value, url, dest)
    assert_nothing_left(tmp_path)


def test_connection_cut_short_is_reported(tmp_path):
    body = make_zip()
    dest = tmp_path / "landmarks"
    with serve({"/landmark_images.zip": (body[:1000], len(body))}) as base:
        with pytest.raises(DownloadError) as caught:
            download_dataset(dest, url=f"{base}/landmark_images.zip", timeout=5, progress=False)
    assert_clear_message(caught.value, f"{base}/landmark_images.zip", dest)
    assert_nothing_left(tmp_path)


# --- a good download --------------------------------------------------------------------------


def test_downloads_verifies_unpacks_then_reuses_without_network(tmp_path):
    body = make_zip()
    dest = tmp_path / "landmarks"
    with serve({"/landmark_images.zip": body}) as base:
        with pytest.warns(UserWarning, match="6 train / 3 test photos"):
            root = download_dataset(
                dest, url=f"{base}/landmark_images.zip", timeout=5, progress=False,
                sha256=hashlib.sha256(body).hexdigest().upper(),  # case does not matter
            )
    assert root == dest.absolute()
    for split, n in PER_SPLIT.items():
        assert sorted(p.name for p in (root / split).iterdir()) == list(CLASSES)
        for cls in CLASSES:
            photos = sorted((root / split / cls).glob("*.jpg"))
            assert len(photos) == n
            Image.open(photos[0]).verify()
    assert (root / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landmarks"]  # no temporaries

    # The server is gone now: a second call must not need it.
    start = time.monotonic()
    assert download_dataset(dest, url=refused_url(), timeout=1, progress=False) == root
    assert time.monotonic() - start < 1


def test_expected_counts_do_not_warn(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "EXPECTED_COUNTS", {"train": 6, "test": 3})
    with serve({"/d.zip": make_zip(prefix="")}) as base, warnings.catch_warnings():
        warnings.simplefilter("error")
        root = download_dataset(tmp_path / "landmarks", url=f"{base}/d.zip", timeout=5, progress=False)
    # Archive without a top folder: train/ and test/ land directly in dest.
    assert (root / "train" / CLASSES[0]).is_dir() and (root / "test" / CLASSES[2]).is_dir()


def test_existing_dataset_is_returned_without_network(tmp_path):
    # What unzipping by hand gives: dest/landmark_images/{train,test}/NN.Class/*.jpg, no marker.
    for split in ("train", "test"):
        folder = tmp_path / "landmarks" / "landmark_images" / split / CLASSES[0]
        folder.mkdir(parents=True)
        (folder / "a.jpg").write_bytes(_jpeg("red"))
    root = download_dataset(tmp_path / "landmarks", url=refused_url(), timeout=1, progress=False)
    assert root == (tmp_path / "landmarks" / "landmark_images").absolute()


def test_non_dataset_folder_is_never_overwritten(tmp_path):
    dest = tmp_path / "landmarks"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(DownloadError, match="already exists"):
        download_dataset(dest, url=refused_url(), timeout=1, progress=False)
    assert (dest / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landmarks"]


# --- bad archives -----------------------------------------------------------------------------


def _flip_a_byte_inside_a_photo(body: bytes) -> bytes:
    photo = _jpeg((0, 80, 0))  # first photo of 00.Alpha_Place in train, stored uncompressed
    at = body.index(photo) + len(photo) // 2
    return body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]


@pytest.mark.parametrize(
    "body, reason",
    [
        pytest.param(b"<html>Access Denied</html>", "not a readable zip", id="not-a-zip"),
        pytest.param(make_zip()[:-200], "not a readable zip", id="truncated"),
        pytest.param(_flip_a_byte_inside_a_photo(make_zip(compression=zipfile.ZIP_STORED)), "CRC", id="crc"),
        pytest.param(make_zip(extra=[("landmark_images/train/00.Alpha_Place/../../../../evil.jpg", b"x")]),
                     "unsafe path", id="zip-slip-dotdot"),
        pytest.param(make_zip(extra=[("/tmp/evil.jpg", b"x")]), "unsafe path", id="zip-slip-absolute"),
        pytest.param(make_zip(splits={"train": 2}), "no test/NN.Class", id="no-test-split"),
        pytest.param(make_zip(extra=[("other/train/00.Alpha_Place/x.jpg", _jpeg("blue"))]),
                     "more than one top folder", id="two-roots"),
    ],
)
def test_bad_archive_is_rejected_and_leaves_nothing(tmp_path, body, reason):
    dest = tmp_path / "landmarks"
    with serve({"/landmark_images.zip": body}) as base:
        url = f"{base}/landmark_images.zip"
        with pytest.raises(DownloadError, match=reason) as caught:
            download_dataset(dest, url=url, timeout=5, progress=False)
    assert f"The file downloaded from {url} is not a usable landmark dataset" in str(caught.value)
    assert_clear_message(caught.value, url, dest)
    assert_nothing_left(tmp_path)
    assert not list(tmp_path.parent.rglob("evil.jpg"))


def test_wrong_sha256_is_rejected_and_leaves_nothing(tmp_path):
    dest = tmp_path / "landmarks"
    with serve({"/landmark_images.zip": make_zip()}) as base:
        with pytest.raises(DownloadError, match="SHA-256"):
            download_dataset(dest, url=f"{base}/landmark_images.zip", timeout=5, progress=False, sha256="0" * 64)
    assert_nothing_left(tmp_path)
