"""A photo's GPS position: read it from EXIF, write a landmark's position into a copy, and the distance between two.

Where the position goes: into the copy's own EXIF GPS tags, not an XMP sidecar. Phones, operating systems, photo
apps, maps and social sites all read EXIF GPS from the JPEG itself; a sidecar (`photo.xmp`) is read only by
library tools such as Lightroom, darktable and digiKam, and is lost as soon as the photo alone is shared or
uploaded, which is what tagged photos are for.

Lossless: the photo is never decoded or re-encoded (Pillow's `Image.save` would re-compress it). The copy is the
original's bytes with only its EXIF segment (APP1 "Exif") replaced, or inserted when it has none: every other
segment, the compressed image data included, is byte-identical. The other EXIF tags survive (Pillow parses and
rewrites IFD0 and its Exif, GPS and Interop directories), except the small EXIF thumbnail, and a camera maker
note that points at absolute offsets may no longer be readable by the camera maker's own tools. Only JPEGs are
written: the formats that carry no EXIF, or other containers, are reported and left alone.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
from fractions import Fraction
from pathlib import Path

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from landmark_core.files import atomic_path

GPS_IFD = 0x8825
# GPS IFD tags (EXIF 2.3): version, latitude ref/value, longitude ref/value, map datum.
VERSION, LATITUDE_REF, LATITUDE, LONGITUDE_REF, LONGITUDE, MAP_DATUM = 0, 1, 2, 3, 4, 18
EARTH_RADIUS_KM = 6371.0088
SOI, APP0, APP1, SOS = 0xD8, 0xE0, 0xE1, 0xDA
EXIF_HEADER = b"Exif\x00\x00"
MAX_SEGMENT_PAYLOAD = 65533  # a JPEG segment's length field is 16 bits and counts itself

# What write_gps_copy did, as the tags file and the page report it.
WRITTEN = "written"
KEPT = "kept its own GPS"
NOT_JPEG = "not a JPEG: not written"


class GeotagError(ValueError):
    """A JPEG whose segments cannot be edited safely; str(error) is meant for the user."""


def _degrees(value: object, reference: object, negative: str) -> float:
    degrees, minutes, seconds = (float(part) for part in value)  # type: ignore[union-attr]
    total = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(total):
        raise ValueError("not a number")
    return -total if str(reference).strip().upper().startswith(negative) else total


def read_gps(path: str | os.PathLike) -> tuple[float, float] | None:
    """(latitude, longitude) from the photo's EXIF GPS tags, or None when it has none (or unreadable ones)."""
    try:
        with Image.open(path) as image:
            gps = image.getexif().get_ifd(GPS_IFD)
        if LATITUDE not in gps or LONGITUDE not in gps:
            return None
        latitude = _degrees(gps[LATITUDE], gps.get(LATITUDE_REF, "N"), "S")
        longitude = _degrees(gps[LONGITUDE], gps.get(LONGITUDE_REF, "E"), "W")
    except (OSError, ValueError, TypeError, ZeroDivisionError, SyntaxError, struct.error):
        return None  # a file we cannot read, or GPS tags that are not three rationals: no position
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return latitude, longitude


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points, in km (haversine on a sphere)."""
    (lat1, lon1), (lat2, lon2) = ((math.radians(lat), math.radians(lon)) for lat, lon in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Degrees as EXIF's three rationals; seconds to 1/10000 (about 3 mm)."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction(round((value - degrees - minutes / 60) * 3600 * 10000), 10000)
    return IFDRational(degrees), IFDRational(minutes), IFDRational(seconds.numerator, seconds.denominator)


def _segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment before the image data (SOS), in order."""
    if data[:2] != b"\xff" + bytes([SOI]):
        raise GeotagError("not a JPEG file")
    segments, position = [], 2
    while True:
        if position + 4 > len(data) or data[position] != 0xFF:
            raise GeotagError("the JPEG's segments are damaged")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == SOS:
            return segments
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        end = position + 2 + length
        if length < 2 or end > len(data):
            raise GeotagError("the JPEG's segments are damaged")
        segments.append((marker, position, end))
        position = end


def with_gps(data: bytes, latitude: float, longitude: float) -> bytes:
    """The JPEG `data` with its EXIF GPS set to this position; everything else byte-identical (see the module)."""
    segments = _segments(data)
    exif_segment = next(((start, end) for marker, start, end in segments if marker == APP1 and data[start + 4 : start + 10] == EXIF_HEADER), None)
    exif = Image.Exif()
    if exif_segment:
        exif.load(data[exif_segment[0] + 4 : exif_segment[1]])
    gps = exif.get_ifd(GPS_IFD)
    gps.clear()
    gps.update({
        VERSION: b"\x02\x03\x00\x00",
        LATITUDE_REF: "N" if latitude >= 0 else "S",
        LATITUDE: _dms(latitude),
        LONGITUDE_REF: "E" if longitude >= 0 else "W",
        LONGITUDE: _dms(longitude),
        MAP_DATUM: "WGS-84",
    })
    payload = exif.tobytes()  # starts with the "Exif\0\0" header
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        raise GeotagError("its EXIF data is too large to add a position to")
    segment = bytes([0xFF, APP1]) + struct.pack(">H", len(payload) + 2) + payload
    if exif_segment:
        start, end = exif_segment
    else:  # EXIF goes first, but after a JFIF header, which must stay the first segment
        start = end = segments[0][2] if segments and segments[0][0] == APP0 else 2
    return data[:start] + segment + data[end:]


def is_jpeg(path: str | os.PathLike) -> bool:
    with open(path, "rb") as handle:
        return handle.read(3) == b"\xff\xd8\xff"


def write_gps_copy(source: str | os.PathLike, target: str | os.PathLike, latitude: float, longitude: float, overwrite: bool = False) -> str:
    """Copy `source` to `target` with this position in its EXIF (WRITTEN), or unchanged when it already has GPS
    and not `overwrite` (KEPT); a non-JPEG is not copied (NOT_JPEG). The original is only read. Raises
    GeotagError for a JPEG too damaged to edit, OSError when a file cannot be read or written."""
    source, target = Path(source), Path(target)
    if not is_jpeg(source):
        return NOT_JPEG
    keep = not overwrite and read_gps(source) is not None
    with atomic_path(target) as temporary:
        if keep:
            shutil.copyfile(source, temporary)
        else:
            temporary.write_bytes(with_gps(source.read_bytes(), latitude, longitude))
        shutil.copystat(source, temporary)  # the photo's dates stay: photo apps sort by them
    return KEPT if keep else WRITTEN
