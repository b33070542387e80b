"""Find the cover in a photo, so that images are compared cover to cover and not scene to cover.

A reader's photo shows the book lying on a table or among other books; the perceptual vector and
hash of the whole photo describe the table as much as the cover. ``locate_cover`` looks for the
cover's outline — a large quadrilateral of about a book's proportions with edges along its sides —
and rectifies it (a perspective warp back to an upright rectangle):

1. the photo is shrunk to ``WORKING_SIDE`` pixels and its edges found (Canny at two thresholds, on
   the grey image and on the colour saturation, closed so that small gaps do not cut an outline);
2. every large contour becomes candidates: its convex hull's minimum-area rectangle, and the hull
   simplified to four corners when it simplifies so;
3. candidates are scored by their edge support (the share of points along their two weakest sides
   that lie on an edge: a quadrilateral spanning the cover and the paper beside it crosses empty
   table), how book-like their proportions are (width/height 0.45–0.9), how central and how large;
4. the best one is warped from the full-resolution photo to an upright rectangle.

When no candidate scores above ``MIN_SCORE`` the whole photo is used (``CoverRegion.method == "whole"``).
A frame-filling photo, whose cover edges are outside the frame, lands there too, as it should: its whole
photo is the cover. ``CoverRegion.confidence`` says how cleanly the cover was found; search weighs the
image signals by it.

``cover_outlines`` lists the best few distinct outlines (search looks for the cover in the runners-up
too), and ``window_boxes`` book-shaped windows on a grid over the frame at a few sizes: whatever the
outlines miss, one window holds most of the cover (``multimodal.photo_query`` searches with each).

Chosen by measurement over simulated scenes (benchmarks/localise_scenes.py, benchmarks/scene_recall.py):
see docs/evaluation.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

WORKING_SIDE = 480
MIN_AREA = 0.10  # of the frame
MAX_AREA = 0.97
BOOK_RATIO = (0.45, 0.9)  # width / height of a cover
MIN_SCORE = 0.35
OUTPUT_HEIGHT = 640  # the rectified cover, enough for OCR to read its title


@dataclass
class CoverRegion:
    image: Image.Image  # the rectified cover, or the whole photo
    method: str  # "quad": a cover outline was found and rectified; "whole": the whole photo
    confidence: float  # in [0, 1]: how cleanly the cover was found (0 for the whole photo)
    corners: np.ndarray | None = None  # in the photo's pixels: top-left, top-right, bottom-right, bottom-left

    @property
    def found(self) -> bool:
        return self.method != "whole"


@dataclass
class Outline:
    """A candidate cover outline: four corners in the photo's pixels and how likely it is the cover (about [0, 1])."""

    corners: np.ndarray  # top-left, top-right, bottom-right, bottom-left
    score: float


def locate_cover(photo: Image.Image, outlines: list[Outline] | None = None) -> CoverRegion:
    """The cover in ``photo``, rectified, or the whole photo when no cover outline is found (``outlines``: the
    photo's best outlines, best first, when already found)."""
    outlines = cover_outlines(photo, 1) if outlines is None else outlines
    if not outlines or outlines[0].score < MIN_SCORE:
        return CoverRegion(photo, "whole", 0.0)
    return region_of(photo, outlines[0])


def region_of(photo: Image.Image, outline: Outline) -> CoverRegion:
    """The outline rectified from the full-resolution photo."""
    rgb = np.asarray(photo.convert("RGB"))
    return CoverRegion(rectify(rgb, outline.corners), "quad", round(min(outline.score, 1.0), 3), outline.corners)


def cover_outlines(photo: Image.Image, limit: int, distinct: float = 0.8) -> list[Outline]:
    """The ``limit`` best-scoring outlines in ``photo``, best first, none overlapping a better one by more than
    ``distinct`` (intersection over union): the many near-copies of one outline count once."""
    rgb = np.asarray(photo.convert("RGB"))
    scale = min(1.0, WORKING_SIDE / max(rgb.shape[:2]))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    maps = edge_maps(small)
    support_map = cv2.dilate(np.maximum.reduce(maps), np.ones((5, 5), np.uint8)) > 0
    height, width = small.shape[:2]
    scored = sorted(
        (
            (score(quad, edge_support(quad, support_map), width, height), quad)
            for quad in candidate_quads(maps, width * height)
        ),
        key=lambda pair: -pair[0],
    )
    kept: list[Outline] = []
    for quad_score, quad in scored:
        if len(kept) == limit:
            break
        if quad_score > 0 and all(overlap(quad, outline.corners * scale) <= distinct for outline in kept):
            kept.append(Outline(quad / scale, float(quad_score)))
    return kept


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex quadrilaterals."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    inter, _ = cv2.intersectConvexConvex(a, b)
    union = cv2.contourArea(a) + cv2.contourArea(b) - inter
    return float(inter / union) if union > 0 else 0.0


def edge_maps(small: np.ndarray) -> list[np.ndarray]:
    grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    saturation = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2HSV)[..., 1], (5, 5), 0)
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    maps = []
    for channel in (grey, saturation):
        middle = float(np.median(channel))
        for low, high in ((0.66, 1.33), (0.33, 0.9)):
            edges = cv2.Canny(channel, max(5, low * middle), max(15, high * middle))
            maps.append(cv2.morphologyEx(edges, cv2.MORPH_CLOSE, close))
    return maps


def candidate_quads(maps: list[np.ndarray], frame_area: int) -> list[np.ndarray]:
    """Four corners for each large outline: its convex hull simplified, or the hull's minimum-area rectangle."""
    found = []
    for edges in maps:
        contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            hull = cv2.convexHull(contour)
            if not MIN_AREA * frame_area <= cv2.contourArea(hull) <= MAX_AREA * frame_area:
                continue
            found.extend(order_corners(quad) for quad in four_corners(hull))
    return found


def four_corners(hull: np.ndarray) -> list[np.ndarray]:
    quads = [cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)]
    perimeter = cv2.arcLength(hull, True)
    for share in (0.02, 0.04):
        approx = cv2.approxPolyDP(hull, share * perimeter, True)
        if len(approx) == 4:
            quads.append(approx.reshape(4, 2).astype(np.float64))
            break
    return quads


def edge_support(corners: np.ndarray, support_map: np.ndarray, samples: int = 40) -> float:
    """The share of points along the quadrilateral's sides that lie on an edge: the weakest two sides' mean.

    A real cover outline has edges along all four sides (a thumb or glare breaks one at most); a
    quadrilateral spanning the cover and the paper beside it crosses empty table.
    """
    height, width = support_map.shape
    shares = []
    for i in range(4):
        start, end = corners[i], corners[(i + 1) % 4]
        points = start + np.linspace(0.05, 0.95, samples)[:, None] * (end - start)
        x = np.clip(points[:, 0].round().astype(int), 0, width - 1)
        y = np.clip(points[:, 1].round().astype(int), 0, height - 1)
        inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
        shares.append(float(np.mean(support_map[y, x] & inside)))
    return float(np.mean(sorted(shares)[:2]))


def order_corners(quad: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left (a cover is upright within ±45°)."""
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    ordered = quad[np.argsort(angles)]  # from the left, clockwise in image coordinates: tl first when upright
    start = int(np.argmin(ordered.sum(axis=1)))
    return np.roll(ordered, -start, axis=0)


def sides(corners: np.ndarray) -> tuple[float, float]:
    """(width, height): the mean lengths of opposite sides."""
    top, right, bottom, left = (np.linalg.norm(corners[(i + 1) % 4] - corners[i]) for i in range(4))
    return (top + bottom) / 2, (left + right) / 2


def score(corners: np.ndarray, fill: float, width: int, height: int) -> float:
    """How likely the quadrilateral is the photographed cover, about [0, 1]."""
    area = cv2.contourArea(corners.astype(np.float32)) / (width * height)
    quad_w, quad_h = sides(corners)
    ratio = quad_w / max(quad_h, 1e-6)
    low, high = BOOK_RATIO
    proportion = 1.0 if low <= ratio <= high else max(0.0, 1 - 4 * min(abs(ratio - low), abs(ratio - high)))
    offset = np.linalg.norm(corners.mean(axis=0) / (width, height) - 0.5)
    centrality = max(0.0, 1 - offset * 1.5)
    return float(fill**2 * proportion * centrality * min(1.0, area / 0.35) ** 0.5)


def rectify(rgb: np.ndarray, corners: np.ndarray, height: int = OUTPUT_HEIGHT) -> Image.Image:
    """The quadrilateral warped to an upright rectangle of the cover's proportions, ``height`` pixels tall."""
    quad_w, quad_h = sides(corners)
    width = max(1, round(height * quad_w / max(quad_h, 1e-6)))
    target = np.array([(0, 0), (width, 0), (width, height), (0, height)], np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return Image.fromarray(cv2.warpPerspective(rgb, matrix, (width, height), flags=cv2.INTER_AREA))


def surroundings(photo: Image.Image, corners: np.ndarray, margin: float) -> Image.Image:
    """The photo cut to an outline's bounding box grown by ``margin`` of its width and height on every side (the
    outline found may be a cover's framed picture, its title printed just outside it)."""
    left, top = corners.min(axis=0)
    right, bottom = corners.max(axis=0)
    grow_x, grow_y = margin * (right - left), margin * (bottom - top)
    left, top = max(0.0, left - grow_x), max(0.0, top - grow_y)
    right, bottom = min(photo.width, right + grow_x), min(photo.height, bottom + grow_y)
    return photo.crop((round(left), round(top), round(right), round(bottom)))


WINDOW_HEIGHTS = (0.9, 0.7, 0.5)  # of the frame's height, the largest first
WINDOW_RATIO = 0.67  # width / height: a typical cover
WINDOW_STRIDE = 0.5  # of the window's side
WINDOW_SIDE = 384  # windows are cut from the photo shrunk to this many pixels (their vectors are small)


def window_boxes(
    size: tuple[int, int], heights: tuple[float, ...] = WINDOW_HEIGHTS, stride: float = WINDOW_STRIDE
) -> list[tuple[float, float, float, float]]:
    """Book-shaped boxes (left, top, right, bottom) on a grid over a frame of ``size``, at a few sizes, the largest
    first: one of them holds most of the cover wherever it lies, even when no outline of it is found."""
    width, height = size
    boxes = []
    for share in heights:
        window_h = share * height
        window_w = min(width, window_h * WINDOW_RATIO)
        for top in positions(height - window_h, stride * window_h):
            for left in positions(width - window_w, stride * window_w):
                boxes.append((left, top, left + window_w, top + window_h))
    return boxes


def window_crops(
    photo: Image.Image, heights: tuple[float, ...] = WINDOW_HEIGHTS, stride: float = WINDOW_STRIDE
) -> list[Image.Image]:
    """The photo cut to each of ``window_boxes``, from a copy shrunk to ``WINDOW_SIDE`` (their vectors are small)."""
    small = photo.convert("RGB")
    small.thumbnail((WINDOW_SIDE, WINDOW_SIDE), Image.BILINEAR)
    boxes = window_boxes(small.size, heights, stride)
    return [small.crop(tuple(round(value) for value in box)) for box in boxes]


def positions(room: float, stride: float) -> np.ndarray:
    """Evenly spread starts from 0 to ``room`` at most ``stride`` apart."""
    steps = max(1, int(np.ceil(room / stride))) if room > 1 else 0
    return np.linspace(0, max(room, 0), steps + 1)
