"""A reader's phone photo of a cover, simulated: what cover identification is evaluated on.

Two kinds of photo (``PHOTO_KINDS``), both seeded — the same cover and seed always give the same bytes:

**frame-filling** (``phone_photo``): the cover fills the frame — upscaled to phone size, up to 10 % of
each side cut off, rotated by up to ±10° over a plain background, a perspective warp moving each corner
by up to 6 %, Gaussian blur, brightness and contrast, JPEG quality 40–70.

**scene** (``scene_photo``): the cover is part of a portrait photo, as a reader takes it in a library
or at home, with its amounts drawn from ``SceneConditions``:

1. the background: ``plain`` (a colour with a light gradient), ``wood`` (procedural grain), ``covers``
   (other covers of the same catalog strewn around, on wood or plain) or ``desk`` (a mug, a pen, a
   sheet of printed paper, a phone);
2. the cover placed in it: its height 40–90 % of the frame's, rotated by up to ±20°, each corner moved
   by up to 7 % of the cover's side (the phone not parallel to the book), a soft drop shadow under it;
3. the cover as printed, not the catalog's file: another white balance, tone curve and saturation, and
   sometimes curved (a paperback or jacket that does not lie flat: no longer one plane);
4. light: an uneven gradient over the frame, sometimes a cast shadow (a soft dark band), sometimes
   glare (a bright ellipse on the cover);
5. a thumb over one edge of the cover, sometimes;
6. focus: none, Gaussian blur or motion blur; sensor noise; JPEG quality 35–75.

A scene records what was drawn (``ScenePhoto.conditions``: the evaluation breaks results down by
it) and where the cover's corners are (``ScenePhoto.corners``: localisation is measured against it).

What it does not model: real light (reflections of the room, colour casts of lamps), glossy library
jackets and plastic covers (glare is one ellipse), the detail of a real print (the cover is the catalog's
thumbnail enlarged), covers seen on a shelf spine-out, real motion and rolling shutter,
the phone's own sharpening and tone mapping. See docs/evaluation.md.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


@dataclass(frozen=True)
class PhotoConditions:
    """The ranges a frame-filling photo's random amounts are drawn from (uniformly)."""

    height: tuple[int, int] = (900, 1100)
    crop: float = 0.10  # at most this fraction of each dimension is cut off
    rotation: float = 10.0  # degrees, either way
    perspective: float = 0.06  # corner displacement, as a fraction of the side
    blur: tuple[float, float] = (0.0, 1.5)  # Gaussian radius in pixels, at phone size
    brightness: tuple[float, float] = (0.7, 1.3)
    contrast: tuple[float, float] = (0.7, 1.3)
    jpeg_quality: tuple[int, int] = (40, 70)


def phone_photo(cover: Image.Image, seed: int, conditions: PhotoConditions = PhotoConditions()) -> bytes:
    """JPEG bytes of a simulated frame-filling phone photo of ``cover``; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    image = upscale(cover.convert("RGB"), int(rng.integers(*conditions.height, endpoint=True)))
    image = crop_edges(image, rng, conditions.crop)
    background = tuple(int(value) for value in rng.integers(30, 226, size=3))
    image = image.rotate(
        rng.uniform(-conditions.rotation, conditions.rotation),
        resample=Image.BICUBIC,
        expand=True,
        fillcolor=background,
    )
    image = warp_perspective(image, rng, conditions.perspective, background)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*conditions.blur)))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(*conditions.brightness))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(*conditions.contrast))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(*conditions.jpeg_quality, endpoint=True)))
    return buffer.getvalue()


def upscale(image: Image.Image, height: int) -> Image.Image:
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.BICUBIC)


def crop_edges(image: Image.Image, rng: np.random.Generator, most: float) -> Image.Image:
    """Cut off up to ``most`` of each dimension, split at random between its two sides."""
    width, height = image.size
    cut_x, cut_y = rng.uniform(0, most) * width, rng.uniform(0, most) * height
    left, top = rng.uniform(0, 1) * cut_x, rng.uniform(0, 1) * cut_y
    return image.crop((round(left), round(top), round(width - (cut_x - left)), round(height - (cut_y - top))))


def warp_perspective(
    image: Image.Image, rng: np.random.Generator, most: float, background: tuple[int, ...]
) -> Image.Image:
    """Move each corner inwards or outwards by up to ``most`` of the side, keeping the frame size."""
    width, height = image.size
    corners = np.array([(0, 0), (width, 0), (width, height), (0, height)], dtype=np.float64)
    moved = corners + rng.uniform(-most, most, size=(4, 2)) * (width, height)
    return image.transform(
        image.size,
        Image.PERSPECTIVE,
        perspective_coefficients(moved, corners),
        resample=Image.BICUBIC,
        fillcolor=background,
    )


def perspective_coefficients(output: np.ndarray, source: np.ndarray) -> list[float]:
    """PIL's 8 coefficients mapping each output pixel back to where it is taken from in the source."""
    rows = []
    for (x, y), (u, v) in zip(output, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return np.linalg.solve(np.array(rows), source.reshape(8)).tolist()


# -- scenes -----------------------------------------------------------------------------------
BACKGROUNDS = ("plain", "wood", "covers", "desk")
BLURS = ("none", "gaussian", "motion")


@dataclass(frozen=True)
class SceneConditions:
    """The ranges a scene's random amounts are drawn from, and how often each nuisance happens."""

    width: tuple[int, int] = (720, 960)  # the portrait frame is 4:3, this wide
    cover_height: tuple[float, float] = (0.40, 0.90)  # of the frame's height
    rotation: float = 20.0  # degrees, either way
    perspective: float = 0.07  # corner displacement, as a fraction of the cover's side
    glare: float = 0.35  # probability
    thumb: float = 0.35
    shadow: float = 0.35
    blur: tuple[float, float, float] = (0.4, 0.35, 0.25)  # none, Gaussian, motion
    gaussian_blur: tuple[float, float] = (0.8, 2.5)  # sigma in pixels
    motion_blur: tuple[int, int] = (5, 15)  # kernel length in pixels
    noise: tuple[float, float] = (1.0, 8.0)  # sigma in grey levels
    jpeg_quality: tuple[int, int] = (35, 75)
    bent: float = 0.35  # probability that the cover is curved (a paperback or a jacket that does not lie flat)


@dataclass
class ScenePhoto:
    jpeg: bytes
    corners: np.ndarray  # the cover's corners in the frame: top-left, top-right, bottom-right, bottom-left
    conditions: dict[str, str | float | bool] = field(default_factory=dict)


def scene_photo(
    cover: Image.Image,
    seed: int,
    others: Sequence[Image.Image] = (),
    conditions: SceneConditions = SceneConditions(),
    background: str | None = None,
) -> ScenePhoto:
    """A simulated photo of ``cover`` lying among things; ``others`` are other covers for the ``covers`` background."""
    rng = np.random.default_rng(seed)
    width = int(rng.integers(*conditions.width, endpoint=True))
    height = width * 4 // 3
    kind = background or str(rng.choice(BACKGROUNDS if others else BACKGROUNDS[:2] + BACKGROUNDS[3:]))
    frame = BACKGROUND_PAINTERS[kind](rng, width, height, others)
    share = float(rng.uniform(*conditions.cover_height))
    corners, rotation = place_cover(rng, cover.size, width, height, share, conditions)
    drop_shadow(frame, corners, rng)
    # The printed, photographed cover is not the catalog's file: its own stream of draws, so that the
    # scene's other amounts are the same as before it was modelled.
    printed = np.random.default_rng([seed, 1])
    picture = as_printed(np.asarray(cover.convert("RGB"), np.float32), printed)
    bent = bool(printed.random() < conditions.bent)
    if bent:
        picture = curved(picture, printed)
    paste_quad(frame, picture, corners)
    drawn: dict[str, str | float | bool] = {
        "background": kind,
        "cover_height": round(share, 2),
        "rotation": round(rotation, 1),
        "bent": bent,
    }
    uneven_light(frame, rng)
    drawn["shadow"] = bool(rng.random() < conditions.shadow)
    if drawn["shadow"]:
        cast_shadow(frame, rng)
    drawn["glare"] = bool(rng.random() < conditions.glare)
    if drawn["glare"]:
        glare(frame, corners, rng)
    drawn["thumb"] = bool(rng.random() < conditions.thumb)
    if drawn["thumb"]:
        thumb(frame, corners, rng)
    drawn["blur"] = str(rng.choice(BLURS, p=conditions.blur))
    frame = blurred(frame, str(drawn["blur"]), rng, conditions)
    frame += rng.normal(0, rng.uniform(*conditions.noise), frame.shape).astype(np.float32)
    drawn["jpeg"] = int(rng.integers(*conditions.jpeg_quality, endpoint=True))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=drawn["jpeg"])
    return ScenePhoto(buffer.getvalue(), corners, drawn)


def place_cover(
    rng: np.random.Generator, size: tuple[int, int], width: int, height: int, share: float, conditions: SceneConditions
) -> tuple[np.ndarray, float]:
    """The cover's four corners in the frame: scaled to ``share`` of the height, rotated, in perspective, inside."""
    cover_h = share * height
    cover_w = min(cover_h * size[0] / size[1], 0.92 * width)
    cover_h = cover_w * size[1] / size[0] if cover_w == 0.92 * width else cover_h
    box = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], np.float64) * (cover_w / 2, cover_h / 2)
    box += rng.uniform(-conditions.perspective, conditions.perspective, (4, 2)) * (cover_w, cover_h)
    rotation = float(rng.uniform(-conditions.rotation, conditions.rotation))
    angle = np.radians(rotation)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    box = box @ turn.T
    span = box.max(axis=0) - box.min(axis=0)
    scale = min(1.0, 0.98 * width / span[0], 0.98 * height / span[1])  # a tilted cover still fits the frame
    box *= scale
    room = (np.array([width, height]) - (box.max(axis=0) - box.min(axis=0))) / 2
    centre = np.array([width, height]) / 2 + rng.uniform(-1, 1, 2) * np.maximum(room - 2, 0)
    return box + centre, rotation


def paste_quad(frame: np.ndarray, picture: np.ndarray, corners: np.ndarray, alpha: float = 1.0) -> None:
    """Warp ``picture`` onto ``corners`` of ``frame`` (in place), antialiased at the edges."""
    height, width = picture.shape[:2]
    source = np.array([(0, 0), (width, 0), (width, height), (0, height)], np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpPerspective(picture, matrix, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones((height, width), np.float32), matrix, size, flags=cv2.INTER_LINEAR)
    mask = (mask * alpha)[..., None]
    frame *= 1 - mask
    frame += warped * mask


# -- backgrounds ------------------------------------------------------------------------------
def smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    """Noise in [0, 1] varying over about ``cells`` cells across the width."""
    coarse = rng.random((max(2, cells * height // width), max(2, cells))).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def plain(rng: np.random.Generator, width: int, height: int, others: Sequence[Image.Image] = ()) -> np.ndarray:
    colour = rng.uniform(40, 230, 3).astype(np.float32)
    ramp = np.linspace(-1, 1, height, dtype=np.float32)[:, None, None] * rng.uniform(-20, 20)
    return np.broadcast_to(colour, (height, width, 3)) + ramp


def wood(rng: np.random.Generator, width: int, height: int, others: Sequence[Image.Image] = ()) -> np.ndarray:
    """Planks of grain: stripes along one axis, bent by smooth noise, in a brown of random depth."""
    base = np.array([rng.uniform(90, 190), rng.uniform(55, 120), rng.uniform(25, 70)], np.float32)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    across = y if rng.random() < 0.5 else x
    bend = smooth_noise(rng, width, height, 4) * rng.uniform(20, 60)
    grain = np.sin((across + bend) * rng.uniform(0.15, 0.4)) * 0.5 + 0.5
    rings = smooth_noise(rng, width, height, 12) * 0.5
    planks = (np.floor(across / rng.uniform(120, 260)) % 2) * rng.uniform(-15, 15)
    shade = (grain * 0.6 + rings) * rng.uniform(25, 45) + planks
    return base + shade[..., None] - 30


def strewn_covers(rng: np.random.Generator, width: int, height: int, others: Sequence[Image.Image]) -> np.ndarray:
    """Other covers of the catalog lying around (partly out of frame), on wood or a plain surface."""
    frame = (wood if rng.random() < 0.5 else plain)(rng, width, height)
    for index in rng.permutation(len(others))[: int(rng.integers(3, 8))]:
        other = others[int(index)].convert("RGB")
        share = rng.uniform(0.3, 0.7)
        scale = share * height / other.height
        half = np.array([other.width * scale, other.height * scale]) / 2
        box = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)]) * half
        angle = np.radians(rng.uniform(-35, 35))
        box = box @ np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]).T
        box += rng.uniform((-0.1 * width, -0.1 * height), (1.1 * width, 1.1 * height))
        drop_shadow(frame, box, rng)
        paste_quad(frame, np.asarray(other, np.float32), box)
    return frame


def desk(rng: np.random.Generator, width: int, height: int, others: Sequence[Image.Image] = ()) -> np.ndarray:
    """A desk: a sheet of printed paper, a mug seen from above, a pen and a phone, on wood or plain."""
    frame = (wood if rng.random() < 0.6 else plain)(rng, width, height)
    paper = np.full((297, 210, 3), rng.uniform(225, 250), np.float32)
    for line in range(30, 270, 9):
        if rng.random() < 0.85:
            paper[line : line + 3, 20 : int(rng.uniform(120, 190))] = rng.uniform(40, 90)
    paper_box = rotated_box(rng, 0.55 * height * 210 / 297, 0.55 * height, width, height)
    paste_quad(frame, paper, paper_box)
    centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
    radius = int(rng.uniform(0.08, 0.14) * width)
    mug = tuple(float(value) for value in rng.uniform(20, 235, 3))
    cv2.circle(frame, centre, radius, mug, -1, cv2.LINE_AA)
    cv2.circle(frame, centre, int(radius * 0.8), tuple(v * 0.5 for v in mug), -1, cv2.LINE_AA)
    start = rng.uniform((0, 0), (width, height))
    end = start + rng.uniform(-0.4, 0.4, 2) * height
    pen = tuple(float(value) for value in rng.uniform(10, 200, 3))
    cv2.line(frame, tuple(int(v) for v in start), tuple(int(v) for v in end), pen, int(width * 0.015), cv2.LINE_AA)
    phone = np.full((160, 80, 3), rng.uniform(10, 40), np.float32)
    phone[8:152, 4:76] = rng.uniform(20, 70)
    paste_quad(frame, phone, rotated_box(rng, 0.18 * width, 0.36 * width, width, height))
    return frame


def rotated_box(rng: np.random.Generator, box_w: float, box_h: float, width: int, height: int) -> np.ndarray:
    box = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)]) * (box_w / 2, box_h / 2)
    angle = np.radians(rng.uniform(-180, 180))
    box = box @ np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]).T
    return box + rng.uniform((0, 0), (width, height))


BackgroundPainter = Callable[[np.random.Generator, int, int, Sequence[Image.Image]], np.ndarray]
BACKGROUND_PAINTERS: dict[str, BackgroundPainter] = {
    "plain": plain,
    "wood": wood,
    "covers": strewn_covers,
    "desk": desk,
}


# -- the printed cover ------------------------------------------------------------------------
def as_printed(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cover as printed and seen by a camera, not the catalog's file: white balance off by up to 12 %
    per channel, another tone curve (gamma 0.8–1.25), colours duller or brighter, ink that never reaches
    the file's black or white."""
    tone = 255 * (picture / 255) ** rng.uniform(0.8, 1.25)
    grey = tone.mean(axis=2, keepdims=True)
    tone = grey + (tone - grey) * rng.uniform(0.75, 1.15)
    tone *= rng.uniform(0.88, 1.12, 3).astype(np.float32)
    low, high = rng.uniform(0, 20), rng.uniform(225, 255)
    return (low + tone * (high - low) / 255).clip(0, 255).astype(np.float32)


def curved(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cover bulging (a paperback that does not lie flat), seen from a phone about 30 cm above: columns
    stretched and squeezed along a wave, and the bulge, nearer the camera, magnified, so the top and bottom
    edges bow — no longer one plane, so no single homography maps it back exactly. (Bowed twice as much, a
    cover curled by 2–3 cm, OCR read nothing on some legible covers: docs/evaluation.md.)"""
    height, width = picture.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    wave = np.sin(np.pi * x / width)
    bow = rng.uniform(0.005, 0.02) * rng.choice([-1, 1])  # each edge moved by this share of the height
    source_y = y + bow * height * wave * (2 * y / height - 1)
    source_x = x + rng.uniform(0.01, 0.03) * width * np.sin(2 * np.pi * x / width)
    maps = source_x.astype(np.float32), source_y.astype(np.float32)
    return cv2.remap(picture, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# -- light, hands and optics ------------------------------------------------------------------
def drop_shadow(frame: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> None:
    """A soft shadow under an object lying on the surface, offset towards one side."""
    height, width = frame.shape[:2]
    mask = np.zeros((height, width), np.float32)
    offset = rng.uniform(-0.015, 0.015, 2) * height
    cv2.fillConvexPoly(mask, (corners + offset).astype(np.int32), 1.0, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.01 * height + 1)
    frame *= 1 - 0.45 * mask[..., None]


def uneven_light(frame: np.ndarray, rng: np.random.Generator) -> None:
    """Brighter towards one side, as under a window or a lamp: a gain from about 0.7 to 1.2."""
    height, width = frame.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x / width + np.sin(angle) * y / height) * rng.uniform(0.1, 0.4)
    frame *= (rng.uniform(0.85, 1.1) + ramp - ramp.mean())[..., None]


def cast_shadow(frame: np.ndarray, rng: np.random.Generator) -> None:
    """The shadow of the phone or a head: a soft-edged dark half-plane over part of the frame."""
    height, width = frame.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    distance = np.cos(angle) * (x - width / 2) + np.sin(angle) * (y - height / 2) - rng.uniform(-0.3, 0.3) * width
    softness = rng.uniform(0.02, 0.1) * width
    dark = 1 / (1 + np.exp(-distance / softness))
    frame *= (1 - rng.uniform(0.3, 0.55) * dark)[..., None]


def glare(frame: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> None:
    """A bright ellipse on the cover, fading out, where a lamp reflects off it."""
    height, width = frame.shape[:2]
    weights = rng.dirichlet(np.ones(4))
    centre = weights @ corners
    side = np.linalg.norm(corners[2] - corners[0])
    axes = (side * rng.uniform(0.08, 0.25), side * rng.uniform(0.04, 0.12))
    mask = np.zeros((height, width), np.float32)
    box = ((float(centre[0]), float(centre[1])), (float(2 * axes[0]), float(2 * axes[1])), float(rng.uniform(0, 180)))
    cv2.ellipse(mask, box, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), axes[1] * 0.6 + 1) * rng.uniform(0.6, 0.95)
    frame += (255 - frame) * mask[..., None]


def thumb(frame: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> None:
    """A thumb over one edge of the cover: a skin-toned rounded shape pointing inwards, shaded."""
    edge = int(rng.integers(0, 4))
    start, end = corners[edge], corners[(edge + 1) % 4]
    point = start + rng.uniform(0.2, 0.8) * (end - start)
    inwards = corners.mean(axis=0) - point
    inwards /= np.linalg.norm(inwards)
    side = np.linalg.norm(end - start)
    length, breadth = side * rng.uniform(0.25, 0.4), side * rng.uniform(0.12, 0.18)
    tip = point + inwards * length * rng.uniform(0.25, 0.55)
    centre = tip - inwards * length / 2
    angle = np.degrees(np.arctan2(inwards[1], inwards[0]))
    skin = np.array([rng.uniform(150, 235), rng.uniform(105, 175), rng.uniform(80, 140)], np.float32)
    mask = np.zeros(frame.shape[:2], np.float32)
    box = ((float(centre[0]), float(centre[1])), (float(length), float(breadth)), float(angle))
    cv2.ellipse(mask, box, 1.0, -1, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.5)
    shading = 0.8 + 0.3 * smooth_noise(rng, frame.shape[1], frame.shape[0], 3)
    frame *= 1 - mask[..., None]
    frame += (skin * shading[..., None]) * mask[..., None]


def blurred(frame: np.ndarray, kind: str, rng: np.random.Generator, conditions: SceneConditions) -> np.ndarray:
    if kind == "gaussian":
        return cv2.GaussianBlur(frame, (0, 0), rng.uniform(*conditions.gaussian_blur))
    if kind == "motion":
        length = int(rng.integers(*conditions.motion_blur, endpoint=True))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        turn = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, turn, (length, length))
        return cv2.filter2D(frame, -1, kernel / kernel.sum())
    return frame


PHOTO_KINDS = ("frame-filling", "scene")
