"""Whether a catalog cover is in a photo, and where: local features matched and verified by a homography.

A perceptual vector or hash compares two whole pictures; in a scene the photographed cover is one part of
the frame, and the covers lying around it are parts too. Local features say more: ORB keypoints of the
photo are matched to those of a catalog cover (Lowe's ratio test), and the matches that one perspective
transform (a homography, fitted by RANSAC) carries from the cover onto the photo are counted. A catalog
cover that is in the photo has tens to hundreds of such *inliers*; another cover has a handful, by chance.

The homography also says where the cover lies: its corners projected into the photo (``CoverMatch.quad``),
the share of the frame they cover, and how far they and the matched features are from the frame's centre.
A reader centres the book they photograph, so a verified cover away from the centre is a neighbour lying
beside it, not the book: ``CoverMatch.photographed`` is positive for a cover at the centre, negative for
one beside it.

Inliers alone undercount a cover that is there: blur, glare and a low angle leave a photographed cover 15-35
inliers, no more than a cover that shares only its author's lettering or its series' frame with the one
photographed. So the match is also checked picture against picture (``agreement``): the photo is warped back
into the cover's frame by the homography, and the two are compared cell by cell (normalised correlation of
their grey levels, blurred). Where the cover really is in the photo, most cells agree; a lookalike agrees where
it looks alike, and a cover lying under the photographed one only where it is not covered.

The photo's features are computed once per query (``photo_keypoints``); a catalog cover's are computed
from its file at a fixed size and kept in a bounded cache (``COVERS``), as is the small grey picture the
agreement compares (``THUMBNAILS``; both ``CoverFiles``): a cover that cannot be read (no file, a URL, a
broken image) gives no signal, never an error.
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Generic, TypeVar

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from multimodal.records import BookRecord

T = TypeVar("T")

PHOTO_SIDE = 640  # the photo's longest side when featurised
# A scene's features spread over the covers and the table around the book; a blurred or glary cover keeps few of the
# first thousand. Matched with 2000, the right cover was verified in 3-7 more of 150 tuning scenes per catalog (genre
# 100 -> 103, Italian 128 -> 135, romance 141 -> 144) and no more held-out books' photos had a cover verified; 640 px
# stayed the side (480 px verified one Italian cover more and genre's and romance's fewer, 800 px fewer everywhere):
# ``benchmarks/picture_check.py --photo-features``. The same 2000 vote for covers (``multimodal.cover_features``): on
# the tuning samples' scenes (seeds 2, 4, 5, 6 genre; 2, 6 the others), the photographed cover was among the channel's
# first 50 in 141-147 -> 145-148 of 150 genre photos (149-150 elsewhere), where the strongest 1000 voted before
# (session 12, docs/evaluation.md).
PHOTO_FEATURES = 2000
# ORB keeps an image's strongest corners (by Harris score) among those its FAST detector finds: a corner at least
# ORB_FAST_THRESHOLD grey levels brighter or darker than the circle around it (ORB's default). A blurred photo has few
# such corners (a median of 1,816 of the 2,000 asked on genre's seed-6 scenes; a blurred cover 8 to 250), so the
# photo's are found down to PHOTO_FAST_THRESHOLD: a sharp photo still keeps its strongest, a blurred one gets its
# weaker ones. Chosen on genre's seed-6 scenes (150; session 11): the photographed cover reached 0.5 in 119 -> 123
# photos (10; 121 at 7, 122 at 5) and was found at all in 128 -> 134, while the best of the ten most-voted wrong
# covers reached 0.5 in 5 photos at every threshold; the catalog covers' features (kept in the index) are unchanged.
ORB_FAST_THRESHOLD = 20
PHOTO_FAST_THRESHOLD = 10
COVER_HEIGHT = 300  # a catalog cover is featurised at this height (thumbnails are 200–500 px tall)
COVER_FEATURES = 300
RATIO = 0.8  # Lowe's ratio test: a match must be this much closer than the second best
RANSAC_PIXELS = 6.0  # in the photo's working pixels
MIN_MATCHES = 8  # fewer ratio-test matches than this fit no homography worth the name
KEYPOINT_FLOOR = 10  # inliers a wrong cover reaches by chance (the best of 40 wrong covers: 90 % at most 11)
KEYPOINT_SATURATION = 60  # inliers that verify a cover beyond doubt (the photographed cover's median: 55-80)
# A cover this far from the frame's centre (in frame fractions), or its matched features this far (in the cover's
# size), is not the one photographed. KEYPOINT_* and *_SLACK chosen on 150 simulated scenes among other covers
# (seeds 700-749, 50 a catalog, neither evaluation split): 72 % of the photographed covers reach 0.5 and none is
# below -0.25; of the covers around them (at least 15 inliers) 4 % reach 0.5, 41 % are below -0.25; of 150
# frame-filling photos 97 % reach 0.5, none is below 0 (docs/evaluation.md: before the simulator's widening).
CENTRE_SLACK = 0.1
SEEN_SLACK = 0.6
CACHE_SIZE = 2048  # catalog covers whose features are kept (about 12 KB each: 300 descriptors and points)
# The agreement: the cover's frame compared at THUMBNAIL_SIZE pixels (after a blur of THUMBNAIL_BLUR working pixels)
# in a grid of AGREEMENT_GRID cells; cells whose cover is flat (grey levels' deviation below FLAT_CELL) say nothing,
# nor does a cover with fewer than AGREEING_CELLS others. A cover with at least AGREEING_INLIERS inliers is verified
# as far as its cells' median correlation goes from AGREEMENT_FLOOR (0) to AGREEMENT_FULL (1), and its matched
# features may lie up to SEEN_SLACK + AGREEING_SLACK (fully agreeing) of its size from the centre. Chosen on the
# tuning split's scenes (seed 2, 150 a catalog): docs/evaluation.md, "The cover checked picture against picture".
THUMBNAIL_SIZE = (48, 72)
THUMBNAIL_BLUR = 2.0
AGREEMENT_GRID = (4, 6)
FLAT_CELL = 4.0
AGREEING_CELLS = 6
AGREEING_INLIERS = 12
AGREEMENT_FLOOR = 0.5
AGREEMENT_FULL = 0.8
AGREEING_SLACK = 0.4
# Two covers found in the photo (``photographed`` at least OVERLAPPING_LEVEL) whose quads share OVERLAP_SHARE of
# the smaller one's part of the frame: the one whose picture agrees with the photo there less, by TOP_MARGIN
# (correlation over at least OVERLAP_PIXELS of its thumbnail), lies under the other and is not the one photographed
# — when the other's picture is seen there (AGREEMENT_FLOOR): two quads a little off their covers' edges meet over
# the table, where neither picture is. Set before any run, not tuned (docs/evaluation.md, session 10).
OVERLAPPING_LEVEL = 0.3
OVERLAP_SHARE = 0.1
OVERLAP_PIXELS = 60
TOP_MARGIN = 0.3


@dataclass(frozen=True)
class Keypoints:
    """An image's local features: keypoint positions (working pixels), their ORB descriptors, the working size."""

    points: np.ndarray  # (n, 2) float32
    descriptors: np.ndarray | None  # (n, 32) uint8, None when no keypoint was found
    size: tuple[int, int]  # width, height of the image as featurised
    image: np.ndarray | None = None  # the grey image as featurised (a photo's: ``agreement`` warps it)

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class CoverMatch:
    """A catalog cover matched against a photo."""

    inliers: int  # matches the homography carries onto the photo within RANSAC_PIXELS
    quad: np.ndarray | None = None  # the cover's corners in the photo, as fractions of its width and height
    area_share: float = 0.0  # the share of the frame inside the quad (0: the homography folds the cover)
    centre_distance: float = 1.0  # from the frame's centre to the quad, in frame fractions (0: it holds the centre)
    seen_distance: float = 1.0  # from the frame's centre to the convex hull of its matched features (0: inside)
    agreement: float = 0.0  # in [-1, 1]: how alike the photo, warped into the cover's frame, and the cover are
    homography: np.ndarray | None = None  # the cover's working pixels onto the photo's
    cover_size: tuple[int, int] = (0, 0)  # the cover's working size (width, height)
    picture: np.ndarray | None = None  # the cover's thumbnail, when compared with the photo (``agreement``)
    seen: np.ndarray | None = None  # ... and the photo's, warped into the cover's frame (``photo_in_cover_frame``)

    @property
    def holds_centre(self) -> bool:
        return self.area_share > 0 and self.centre_distance == 0

    def photographed(self) -> float:
        """Whether this cover is the one photographed, in [-1, 1]: how surely it is in the photo times how central
        it lies.

        In the photo: its inliers above what a wrong cover gets by chance (``KEYPOINT_FLOOR``, saturating at
        ``KEYPOINT_SATURATION``), or, from ``AGREEING_INLIERS`` on, how far the photo agrees with it picture
        against picture (``agreement``, from ``AGREEMENT_FLOOR`` to ``AGREEMENT_FULL``), whichever says more.
        Central: 1 when it holds the frame's centre and is seen there — its matched features around the centre,
        or its picture agreeing —, fading to 0 at ``CENTRE_SLACK`` from the centre (or its features
        ``SEEN_SLACK`` of its own size from it, its picture not agreeing), down to -1 at twice that. A cover
        verified *beside* the photographed one, or lying under it (its quad across the centre, its features
        and picture only where the photographed cover leaves it visible), is evidence against its book.
        0: not in the photo."""
        if self.area_share <= 0:
            return 0.0
        counted = (self.inliers - KEYPOINT_FLOOR) / (KEYPOINT_SATURATION - KEYPOINT_FLOOR)
        alike = float(np.clip((self.agreement - AGREEMENT_FLOOR) / (AGREEMENT_FULL - AGREEMENT_FLOOR), 0, 1))
        if self.inliers < AGREEING_INLIERS:
            alike = 0.0  # too few inliers for the homography to say where the cover is: its picture is not compared
        seen = self.seen_distance / np.sqrt(self.area_share)  # in the cover's size: a large cover's middle may be bare
        central = min(1 - self.centre_distance / CENTRE_SLACK, 1 - seen / (SEEN_SLACK + AGREEING_SLACK * alike))
        return float(np.clip(max(counted, alike), 0, 1) * np.clip(central, -1, 1))


NO_MATCH = CoverMatch(0)


def keypoints_of(
    image: Image.Image | np.ndarray,
    scale: float,
    features: int,
    keep_image: bool = False,
    fast_threshold: int = ORB_FAST_THRESHOLD,
) -> Keypoints:
    """ORB features of an image resized by ``scale`` (grey levels); ``keep_image``: with the grey image;
    ``fast_threshold``: how much brighter or darker than its surroundings a corner must be (ORB's FAST detector)."""
    grey = np.asarray(image.convert("L")) if isinstance(image, Image.Image) else image
    if scale != 1:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=interpolation)
    orb = cv2.ORB_create(nfeatures=features, fastThreshold=fast_threshold)
    found, descriptors = orb.detectAndCompute(grey, None)
    points = np.array([point.pt for point in found], np.float32).reshape(-1, 2)
    return Keypoints(points, descriptors, (grey.shape[1], grey.shape[0]), grey if keep_image else None)


def photo_grey(photo: Image.Image) -> np.ndarray:
    """The query photo's grey levels at ``PHOTO_SIDE`` pixels on its longest side, where its features are found."""
    grey = np.asarray(photo.convert("L"))
    scale = min(1.0, PHOTO_SIDE / max(photo.size))
    return grey if scale == 1 else cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def photo_keypoints(photo: Image.Image | np.ndarray) -> Keypoints:
    """The query photo's features, as they vote for covers (``multimodal.cover_features``) and as covers are matched
    to them (the grey image kept); ``photo``: the photo, or its ``photo_grey`` when already computed."""
    grey = photo if isinstance(photo, np.ndarray) else photo_grey(photo)
    return keypoints_of(grey, 1.0, PHOTO_FEATURES, keep_image=True, fast_threshold=PHOTO_FAST_THRESHOLD)


def cover_keypoints(cover: Image.Image) -> Keypoints:
    """A catalog cover's features, at ``COVER_HEIGHT`` pixels high."""
    return keypoints_of(cover, COVER_HEIGHT / cover.height, COVER_FEATURES)


def cover_thumbnail_of(cover: Image.Image) -> np.ndarray:
    """A catalog cover's thumbnail as ``agreement`` compares it: from its grey levels at ``COVER_HEIGHT`` (the frame
    its features are in)."""
    grey = np.asarray(cover.convert("L"))
    scale = COVER_HEIGHT / grey.shape[0]
    return thumbnail_of(cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))


def match(photo: Keypoints, cover: Keypoints, thumbnail: Callable[[], np.ndarray | None] | None = None) -> CoverMatch:
    """How many of the cover's features one homography carries onto the photo's, and where it puts the cover; with
    the photo's image and the cover's thumbnail (``thumbnail()`` reads it, ``cover_thumbnail``: only for a cover
    with ``AGREEING_INLIERS``), how alike the two are there."""
    if photo.descriptors is None or cover.descriptors is None or len(photo) < 2 or len(cover) < 2:
        return NO_MATCH
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(cover.descriptors, photo.descriptors, k=2)
    good = [pair[0] for pair in pairs if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance]
    if len(good) < MIN_MATCHES:
        return NO_MATCH
    source = cover.points[[m.queryIdx for m in good]]
    target = photo.points[[m.trainIdx for m in good]]
    homography, mask = cv2.findHomography(source, target, cv2.RANSAC, RANSAC_PIXELS)
    if homography is None or mask is None:
        return NO_MATCH
    width, height = cover.size
    corners = np.float32([(0, 0), (width, 0), (width, height), (0, height)]).reshape(-1, 1, 2)
    quad = cv2.perspectiveTransform(corners, homography).reshape(4, 2) / np.float32(photo.size)
    matched = target[mask.ravel().astype(bool)] / np.float32(photo.size)
    inliers = int(mask.sum())
    alike, picture, seen = 0.0, None, None
    if inliers >= AGREEING_INLIERS and thumbnail is not None and photo.image is not None:
        picture = thumbnail()
    if picture is not None and photo.image is not None:
        seen, reached = photo_in_cover_frame(photo.image, homography, cover.size)
        alike = cells_agreement(seen, reached, picture)
    placed = placement(quad)
    return CoverMatch(inliers, quad, *placed, seen_distance(matched), alike, homography, cover.size, picture, seen)


def photographed_covers(photo: Keypoints, matches: Sequence[CoverMatch | None]) -> list[float | None]:
    """Each match's ``photographed`` (None stays None), negated for a cover that lies under another found in the
    photo (``lies_under``): where the two overlap, the photo shows the other's picture."""
    found_at = [None if found is None else found.photographed() for found in matches]
    values = list(found_at)
    for i, j in itertools.permutations(range(len(matches)), 2):
        under, over = matches[i], matches[j]
        if under is None or over is None or (found_at[i] or 0.0) < OVERLAPPING_LEVEL:
            continue
        if (found_at[j] or 0.0) >= OVERLAPPING_LEVEL and lies_under(photo, under, over):
            values[i] = -(found_at[i] or 0.0)
    return values


def lies_under(photo: Keypoints, under: CoverMatch, over: CoverMatch) -> bool:
    """Whether the photo, where the two covers' quads overlap (``OVERLAP_SHARE``), shows ``over``'s picture
    (``AGREEMENT_FLOOR``) and not ``under``'s (by ``TOP_MARGIN``)."""
    smaller = min(under.area_share, over.area_share)  # 0: a quad folded (not convex), or outside the frame
    if under.quad is None or over.quad is None or photo.image is None or smaller <= 0:
        return False
    _, corners = cv2.intersectConvexConvex(under.quad.astype(np.float32), over.quad.astype(np.float32))
    if corners is None:
        return False
    shared, corners = cv2.intersectConvexConvex(corners.reshape(-1, 2).astype(np.float32), UNIT_FRAME)
    if corners is None or shared / smaller < OVERLAP_SHARE:
        return False
    region = corners.reshape(-1, 2) * np.float32(photo.size)
    under_fit, over_fit = picture_fit(photo, under, region), picture_fit(photo, over, region)
    if under_fit is None or over_fit is None:
        return False
    return over_fit >= AGREEMENT_FLOOR and over_fit - under_fit >= TOP_MARGIN


def picture_fit(photo: Keypoints, found: CoverMatch, region: np.ndarray) -> float | None:
    """The correlation of the cover's thumbnail and the photo warped into its frame, over the thumbnail's pixels in
    ``region`` (a convex polygon in the photo's working pixels); None for too few pixels, or no picture compared."""
    if found.homography is None or found.picture is None or found.seen is None:
        return None
    width, height = found.cover_size
    to_cover = np.linalg.inv(found.homography)
    outline = cv2.perspectiveTransform(region.reshape(-1, 1, 2).astype(np.float64), to_cover).reshape(-1, 2)
    outline *= (THUMBNAIL_SIZE[0] / width, THUMBNAIL_SIZE[1] / height)
    inside = np.zeros((THUMBNAIL_SIZE[1], THUMBNAIL_SIZE[0]), np.uint8)
    cv2.fillConvexPoly(inside, np.round(outline).astype(np.int32), 1)
    if inside.sum() < OVERLAP_PIXELS:
        return None
    return correlation(found.seen[inside.astype(bool)], found.picture[inside.astype(bool)])


def thumbnail_of(grey: np.ndarray) -> np.ndarray:
    """A grey picture as the agreement compares it: blurred, at ``THUMBNAIL_SIZE``."""
    blurred = cv2.GaussianBlur(grey, (0, 0), THUMBNAIL_BLUR)
    return cv2.resize(blurred, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def agreement(photo: np.ndarray, homography: np.ndarray, cover_size: tuple[int, int], thumbnail: np.ndarray) -> float:
    """The median normalised correlation, over the grid's cells where the cover is not flat, of the cover's
    thumbnail and the photo warped back into the cover's frame (working pixels ``cover_size``) by ``homography``
    (cover to photo); cells the photo does not reach count as disagreeing. 0 when too few cells say anything."""
    return cells_agreement(*photo_in_cover_frame(photo, homography, cover_size), thumbnail)


def photo_in_cover_frame(
    photo: np.ndarray, homography: np.ndarray, cover_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The photo warped back into the cover's frame by ``homography`` (cover to photo), as a thumbnail
    (``thumbnail_of``), and which of the thumbnail's pixels the photo reaches."""
    warped = cv2.warpPerspective(photo, homography, cover_size, flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
    reached = cv2.warpPerspective(np.full_like(photo, 255), homography, cover_size, flags=cv2.WARP_INVERSE_MAP)
    return thumbnail_of(warped), cv2.resize(reached, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA) > 200


def cells_agreement(seen: np.ndarray, inside: np.ndarray, thumbnail: np.ndarray) -> float:
    """``agreement`` of the photo's thumbnail in the cover's frame (``seen``, reaching ``inside``) and the cover's."""
    columns, rows = AGREEMENT_GRID
    width, height = THUMBNAIL_SIZE[0] // columns, THUMBNAIL_SIZE[1] // rows
    values = []
    for row in range(rows):
        for column in range(columns):
            cell = (slice(row * height, (row + 1) * height), slice(column * width, (column + 1) * width))
            if thumbnail[cell].std() < FLAT_CELL:
                continue
            values.append(correlation(seen[cell], thumbnail[cell]) if inside[cell].mean() >= 0.8 else 0.0)
    return float(np.median(values)) if len(values) >= AGREEING_CELLS else 0.0


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / norm if norm > 1e-6 else 0.0


UNIT_FRAME = np.float32([(0, 0), (1, 0), (1, 1), (0, 1)])


def placement(quad: np.ndarray) -> tuple[float, float]:
    """The share of the frame inside a quad (in frame fractions) and the distance from the frame's centre to it;
    a quad that is not convex (a homography that folds the cover) is nowhere: (0, 1)."""
    quad = quad.astype(np.float32)
    if not np.isfinite(quad).all() or not cv2.isContourConvex(quad):
        return 0.0, 1.0
    inside, _ = cv2.intersectConvexConvex(quad, UNIT_FRAME)
    distance = -cv2.pointPolygonTest(quad, (0.5, 0.5), True)  # negative outside
    return float(inside), max(0.0, float(distance))


def seen_distance(points: np.ndarray) -> float:
    """From the frame's centre to the convex hull of points (in frame fractions); 0 inside it."""
    if len(points) < 3:
        return 1.0
    hull = cv2.convexHull(points.astype(np.float32))
    return max(0.0, -float(cv2.pointPolygonTest(hull, (0.5, 0.5), True)))


class CoverFiles(Generic[T]):
    """Something read from catalog covers' files (their features, their thumbnails), by file path, computed on first
    use and kept for the ``size`` last used.

    The key holds the file's modification time and size, so a cover replaced on disk is read again.
    A cover that is not a readable local image file (a URL, a missing file, a broken one) is None.
    """

    def __init__(self, read: Callable[[Path], T | None], size: int = CACHE_SIZE) -> None:
        self.read = read
        self.size = size
        self.cache: OrderedDict[tuple[str, int, int], T | None] = OrderedDict()
        self.lock = Lock()

    def get(self, path: str) -> T | None:
        try:
            status = os.stat(path)
        except (OSError, ValueError):
            return None
        key = (path, status.st_mtime_ns, status.st_size)
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        found = self.read(Path(path))
        with self.lock:
            self.cache[key] = found
            while len(self.cache) > self.size:
                self.cache.popitem(last=False)
        return found


def read_cover_grey(path: Path) -> Image.Image | None:
    """A cover file's grey levels, decoded at about ``COVER_HEIGHT`` (None: unreadable, or a placeholder)."""
    try:
        with Image.open(path) as image:
            image.draft("L", (COVER_HEIGHT, COVER_HEIGHT))  # a large JPEG is decoded at a reduced scale
            grey = image.convert("L")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return None if min(grey.size) < 16 else grey  # a placeholder (genre-covers' 1x1 GIFs)


def read_cover_keypoints(path: Path) -> Keypoints | None:
    grey = read_cover_grey(path)
    return None if grey is None else cover_keypoints(grey)


def read_cover_thumbnail(path: Path) -> np.ndarray | None:
    grey = read_cover_grey(path)
    return None if grey is None else cover_thumbnail_of(grey)


COVERS = CoverFiles(read_cover_keypoints)
THUMBNAILS = CoverFiles(read_cover_thumbnail)


def cover_file_features(record: BookRecord) -> Keypoints | None:
    """A book's cover features read from its file (``COVERS``): None for no cover, a URL, a missing or broken file."""
    return COVERS.get(record.cover) if record.has_cover else None


def cover_thumbnail(record: BookRecord) -> np.ndarray | None:
    """A book's cover thumbnail read from its file (``THUMBNAILS``), as ``cover_file_features``."""
    return THUMBNAILS.get(record.cover) if record.has_cover else None
