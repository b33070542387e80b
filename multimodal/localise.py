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

Chosen by measurement over simulated scenes (benchmarks/localise_scenes.py): see docs/evaluation.md.
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


def locate_cover(photo: Image.Image) -> CoverRegion:
    """The cover in ``photo``, rectified, or the whole photo when no cover outline is found."""
    rgb = np.asarray(photo.convert("RGB"))
    scale = min(1.0, WORKING_SIDE / max(rgb.shape[:2]))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    maps = edge_maps(small)
    support_map = cv2.dilate(np.maximum.reduce(maps), np.ones((5, 5), np.uint8)) > 0
    best, best_score = None, 0.0
    for quad in candidate_quads(maps, small.shape[1] * small.shape[0]):
        quad_score = score(quad, edge_support(quad, support_map), small.shape[1], small.shape[0])
        if quad_score > best_score:
            best, best_score = quad, quad_score
    if best is None or best_score < MIN_SCORE:
        return CoverRegion(photo, "whole", 0.0)
    corners = best / scale
    return CoverRegion(rectify(rgb, corners), "quad", round(float(min(best_score, 1.0)), 3), corners)


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


def rectify(rgb: np.ndarray, corners: np.ndarray) -> Image.Image:
    """The quadrilateral warped to an upright rectangle of the cover's proportions, ``OUTPUT_HEIGHT`` tall."""
    quad_w, quad_h = sides(corners)
    height = OUTPUT_HEIGHT
    width = max(1, round(height * quad_w / max(quad_h, 1e-6)))
    target = np.array([(0, 0), (width, 0), (width, height), (0, height)], np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return Image.fromarray(cv2.warpPerspective(rgb, matrix, (width, height), flags=cv2.INTER_AREA))
