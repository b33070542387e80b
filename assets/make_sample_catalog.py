"""Draw the sample catalog's book covers.

Reads ``assets/sample/catalog.csv`` and draws one 400x600 PNG cover per book with Pillow.
Each genre has its own palette and motif; each book gets its own seeded variation, so the
output is deterministic. The title sits on a near-opaque band so that OCR can read it.

It also renders a few phone photos of those covers as scenes (``--scenes``, default
``assets/sample/scenes``): a cover lying tilted on a desk among other sample covers and objects,
lit unevenly, with a cast shadow (``multimodal.photo.scene_photo``). ``scenes.csv`` there names the
book in each photo; tests search for them.

Usage: python assets/make_sample_catalog.py [--out DIR] [--scenes DIR] [--force]
"""

from __future__ import annotations

import argparse
import colorsys
import csv
import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
CATALOG = HERE / "sample" / "catalog.csv"
DEFAULT_OUT = HERE / "sample" / "covers"
DEFAULT_SCENES = HERE / "sample" / "scenes"
# (book id, background) of each scene: a book of most genres, on a desk or among other covers.
SCENES = (
    ("sample-003", "desk"),
    ("sample-012", "covers"),
    ("sample-021", "desk"),
    ("sample-030", "covers"),
    ("sample-041", "covers"),
    ("sample-055", "desk"),
)

WIDTH, HEIGHT = 400, 600
MARGIN = 28

RGB = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

BOLD_FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "DejaVuSans-Bold.ttf",
    "Arial Bold.ttf",
]
REGULAR_FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "DejaVuSans.ttf",
    "Arial.ttf",
]


@dataclass(frozen=True)
class Palette:
    top: RGB  # background gradient, top colour
    bottom: RGB  # background gradient, bottom colour
    accents: tuple[RGB, ...]  # motif colours
    band: RGB  # colour of the bands behind the text
    text: RGB  # colour of the text on the bands


# --------------------------------------------------------------------------- colour helpers


def shift(color: RGB, hue: float, value: float) -> RGB:
    """Rotate the hue by ``hue`` (0..1 turn) and scale the brightness by ``value``."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in color))
    r, g, b = colorsys.hsv_to_rgb((h + hue) % 1.0, s, min(1.0, v * value))
    return (round(r * 255), round(g * 255), round(b * 255))


def vary(palette: Palette, rng: random.Random) -> Palette:
    """A per-book variant of a genre palette: small hue and brightness shifts (text colours kept)."""
    hue = rng.uniform(-0.05, 0.05)
    value = rng.uniform(0.85, 1.15)
    return Palette(
        top=shift(palette.top, hue, value),
        bottom=shift(palette.bottom, hue, value),
        accents=tuple(shift(c, hue + rng.uniform(-0.02, 0.02), value) for c in palette.accents),
        band=palette.band,
        text=palette.text,
    )


def rgba(color: RGB, alpha: int) -> tuple[int, int, int, int]:
    return (*color, alpha)


def gradient(palette: Palette) -> Image.Image:
    """A vertical gradient from ``palette.top`` to ``palette.bottom``."""
    img = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(img)
    for y in range(HEIGHT):
        t = y / (HEIGHT - 1)
        color = tuple(round(a + (b - a) * t) for a, b in zip(palette.top, palette.bottom, strict=True))
        draw.line([(0, y), (WIDTH, y)], fill=color)
    return img


# --------------------------------------------------------------------------- motifs


def heart(draw: ImageDraw.ImageDraw, cx: float, cy: float, size: float, fill: tuple[int, ...]) -> None:
    points = []
    for i in range(60):
        t = 2 * math.pi * i / 60
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((cx + x * size / 32, cy - y * size / 32))
    draw.polygon(points, fill=fill)


def rose(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, colors: tuple[RGB, ...]) -> None:
    """A stylised rose: a stem, two leaves, a ring of petals and a spiral centre."""
    draw.line([(cx, cy + r * 0.6), (cx - r * 0.3, cy + r * 3)], fill=(60, 110, 60), width=4)
    for side in (-1, 1):
        lx, ly = cx - r * 0.15 + side * r * 0.45, cy + r * 1.8
        draw.ellipse([lx - r * 0.4, ly - r * 0.18, lx + r * 0.4, ly + r * 0.18], fill=(70, 130, 70))
    for k in range(6):
        a = 2 * math.pi * k / 6
        px, py, pr = cx + r * 0.45 * math.cos(a), cy + r * 0.45 * math.sin(a), r * 0.55
        draw.ellipse([px - pr, py - pr, px + pr, py + pr], fill=colors[k % len(colors)], outline=(120, 20, 60))
    draw.ellipse([cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45], fill=colors[-1])
    spiral = [(cx + (t / 40) * r * 0.4 * math.cos(t / 4), cy + (t / 40) * r * 0.4 * math.sin(t / 4)) for t in range(41)]
    draw.line(spiral, fill=(110, 10, 45), width=2)


def motif_romance(img: Image.Image, rng: random.Random, pal: Palette) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(rng.randint(10, 16)):
        heart(
            draw,
            rng.uniform(0, WIDTH),
            rng.uniform(0, HEIGHT),
            rng.uniform(24, 80),
            rgba(rng.choice(pal.accents), rng.randint(90, 200)),
        )
    for _ in range(rng.randint(2, 4)):
        rose(draw, rng.uniform(50, WIDTH - 50), rng.uniform(300, 470), rng.uniform(22, 38), pal.accents)


def magnifier(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, color: RGB, angle: float) -> None:
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=color, width=max(6, int(r / 6)))
    draw.ellipse([cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8], fill=rgba(color, 40))
    x0, y0 = cx + r * math.cos(angle), cy + r * math.sin(angle)
    x1, y1 = cx + 2.2 * r * math.cos(angle), cy + 2.2 * r * math.sin(angle)
    draw.line([(x0, y0), (x1, y1)], fill=color, width=max(10, int(r / 4)))


def motif_mystery(img: Image.Image, rng: random.Random, pal: Palette) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    # a row of dark rooftops and one lit window
    x = -10.0
    while x < WIDTH:
        w, h = rng.uniform(40, 90), rng.uniform(80, 200)
        draw.rectangle([x, HEIGHT - h, x + w, HEIGHT], fill=pal.accents[0])
        if rng.random() < 0.4:
            wx, wy = x + w / 3, HEIGHT - h + 20
            draw.rectangle([wx, wy, wx + 12, wy + 16], fill=(240, 210, 120))
        x += w
    magnifier(
        draw,
        rng.uniform(110, 290),
        rng.uniform(330, 400),
        rng.uniform(45, 70),
        pal.accents[1],
        rng.uniform(0.4, 1.2),
    )
    for _ in range(rng.randint(6, 10)):  # fog banks
        cy, w = rng.uniform(250, HEIGHT), rng.uniform(200, 420)
        cx = rng.uniform(0, WIDTH)
        draw.ellipse([cx - w / 2, cy - 25, cx + w / 2, cy + 25], fill=rgba(pal.accents[2], rng.randint(40, 90)))


def star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: tuple[int, ...]) -> None:
    points = []
    for i in range(10):
        rr = r if i % 2 == 0 else r * 0.4
        a = math.pi * i / 5 - math.pi / 2
        points.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    draw.polygon(points, fill=fill)


def castle(draw: ImageDraw.ImageDraw, cx: float, base: float, scale: float, color: RGB) -> None:
    w, h = 120 * scale, 90 * scale
    draw.rectangle([cx - w / 2, base - h, cx + w / 2, base], fill=color)
    for i in range(6):  # crenellations
        x = cx - w / 2 + i * w / 5.5
        draw.rectangle([x, base - h - 10 * scale, x + w / 11, base - h], fill=color)
    for tx in (cx - w / 2, cx + w / 2):  # towers with pointed roofs
        tw, th = 28 * scale, 150 * scale
        draw.rectangle([tx - tw / 2, base - th, tx + tw / 2, base], fill=color)
        draw.polygon(
            [(tx - tw / 2 - 4, base - th), (tx + tw / 2 + 4, base - th), (tx, base - th - 40 * scale)],
            fill=color,
        )
    draw.rectangle([cx - 12 * scale, base - 40 * scale, cx + 12 * scale, base], fill=(30, 20, 40))


def motif_fantasy(img: Image.Image, rng: random.Random, pal: Palette) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(rng.randint(25, 45)):
        star(draw, rng.uniform(0, WIDTH), rng.uniform(0, 330), rng.uniform(3, 9), rgba(pal.accents[2], 230))
    for layer, color in enumerate(pal.accents[:2]):  # two mountain ranges
        x, base = -60.0, HEIGHT - 60 + layer * 40
        while x < WIDTH + 60:
            w, h = rng.uniform(120, 220), rng.uniform(140, 260) - layer * 60
            draw.polygon([(x, base), (x + w / 2, base - h), (x + w, base)], fill=color)
            draw.polygon(
                [(x + w / 2, base - h), (x + w / 2 - 18, base - h + 30), (x + w / 2 + 18, base - h + 30)],
                fill=(240, 240, 255),
            )
            x += w * 0.7
    castle(draw, rng.uniform(130, 270), HEIGHT - 70, rng.uniform(0.7, 1.0), pal.accents[3])
    draw.rectangle([0, HEIGHT - 40, WIDTH, HEIGHT], fill=pal.accents[3])


def planet(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, color: RGB, ringed: bool) -> None:
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    draw.ellipse([cx - r * 0.6, cy - r * 0.9, cx + r * 0.2, cy - r * 0.2], fill=rgba((255, 255, 255), 50))
    if ringed:
        draw.ellipse([cx - r * 1.8, cy - r * 0.35, cx + r * 1.8, cy + r * 0.35], outline=(220, 240, 240), width=3)


def motif_scifi(img: Image.Image, rng: random.Random, pal: Palette) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(rng.randint(60, 110)):
        x, y = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT * 0.7)
        s = rng.choice((1, 1, 2))
        draw.ellipse([x, y, x + s, y + s], fill=(230, 255, 255))
    horizon = 430 + rng.uniform(-20, 20)
    vanish = WIDTH / 2 + rng.uniform(-80, 80)
    for i in range(-8, 9):  # perspective grid
        draw.line([(vanish, horizon), (vanish + i * 70, HEIGHT)], fill=rgba(pal.accents[0], 200), width=2)
    for k in range(1, 9):
        y = horizon + (HEIGHT - horizon) * (k / 8) ** 1.8
        draw.line([(0, y), (WIDTH, y)], fill=rgba(pal.accents[0], 200), width=2)
    for _ in range(rng.randint(1, 3)):
        planet(
            draw,
            rng.uniform(40, WIDTH - 40),
            rng.uniform(260, 400),
            rng.uniform(18, 55),
            rng.choice(pal.accents[1:]),
            rng.random() < 0.5,
        )


def motif_thriller(img: Image.Image, rng: random.Random, pal: Palette) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(rng.randint(5, 9)):  # diagonal slashes
        x = rng.uniform(-200, WIDTH)
        w, slope = rng.uniform(12, 60), rng.uniform(250, 500)
        color = rgba(rng.choice(pal.accents), rng.randint(160, 255))
        draw.polygon([(x, HEIGHT), (x + w, HEIGHT), (x + w + slope, 0), (x + slope, 0)], fill=color)
    cx, cy, r = rng.uniform(120, 280), rng.uniform(330, 420), rng.uniform(40, 60)  # crosshair
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(245, 245, 245), width=3)
    draw.line([(cx - r * 1.4, cy), (cx + r * 1.4, cy)], fill=(245, 245, 245), width=2)
    draw.line([(cx, cy - r * 1.4), (cx, cy + r * 1.4)], fill=(245, 245, 245), width=2)


def branch(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    x: float,
    y: float,
    angle: float,
    length: float,
    width: int,
    color: RGB,
) -> None:
    """A recursive bare tree branch."""
    if length < 8 or width < 1:
        return
    x2, y2 = x + length * math.cos(angle), y - length * math.sin(angle)
    draw.line([(x, y), (x2, y2)], fill=color, width=width)
    for _ in range(rng.randint(2, 3)):
        branch(
            draw,
            rng,
            x2,
            y2,
            angle + rng.uniform(-0.7, 0.7),
            length * rng.uniform(0.6, 0.75),
            width - 1 if width > 1 else 0,
            color,
        )


def motif_horror(img: Image.Image, rng: random.Random, pal: Palette) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    mx, my, mr = rng.uniform(90, 310), rng.uniform(350, 400), rng.uniform(40, 60)
    draw.ellipse([mx - mr * 1.5, my - mr * 1.5, mx + mr * 1.5, my + mr * 1.5], fill=rgba(pal.accents[1], 60))
    draw.ellipse([mx - mr, my - mr, mx + mr, my + mr], fill=pal.accents[1])
    for _ in range(rng.randint(2, 3)):  # dead trees
        branch(
            draw,
            rng,
            rng.uniform(20, WIDTH - 20),
            HEIGHT - 30,
            math.pi / 2 + rng.uniform(-0.15, 0.15),
            rng.uniform(70, 110),
            8,
            pal.accents[0],
        )
    draw.rectangle([0, HEIGHT - 35, WIDTH, HEIGHT], fill=pal.accents[0])
    for _ in range(rng.randint(4, 8)):  # green marsh lights
        x, y, r = rng.uniform(0, WIDTH), rng.uniform(380, 540), rng.uniform(3, 7)
        draw.ellipse([x - r * 3, y - r * 3, x + r * 3, y + r * 3], fill=rgba(pal.accents[2], 50))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=pal.accents[2])


def motif_poetry(img: Image.Image, rng: random.Random, pal: Palette) -> None:
    soft = img.copy()
    draw = ImageDraw.Draw(soft, "RGBA")
    for _ in range(rng.randint(10, 16)):
        x, y, r = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(40, 130)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=rgba(rng.choice(pal.accents), rng.randint(110, 190)))
    img.paste(soft.filter(ImageFilter.GaussianBlur(5)))
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(rng.randint(3, 6)):  # thin ink rings
        x, y, r = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(20, 90)
        draw.ellipse([x - r, y - r, x + r, y + r], outline=rgba((90, 80, 110), 130), width=2)


def motif_travel(img: Image.Image, rng: random.Random, pal: Palette) -> None:
    draw = ImageDraw.Draw(img, "RGBA")
    horizon = rng.uniform(380, 430)
    sx, sr = rng.uniform(70, 330), rng.uniform(35, 60)
    sy = horizon - rng.uniform(10, 60)
    draw.ellipse([sx - sr * 1.4, sy - sr * 1.4, sx + sr * 1.4, sy + sr * 1.4], fill=rgba(pal.accents[0], 70))
    draw.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=pal.accents[0])
    draw.rectangle([0, horizon, WIDTH, HEIGHT], fill=pal.accents[1])  # sea
    phase, amp = rng.uniform(0, 6.28), rng.uniform(4, 8)
    for k in range(6):  # waves
        y0 = horizon + 15 + k * 22
        pts = [(x, y0 + amp * math.sin(x / 22 + phase + k)) for x in range(0, WIDTH + 1, 4)]
        draw.line(pts, fill=rgba((255, 255, 255), 170), width=3)
    sand = [
        (0, HEIGHT),
        (0, HEIGHT - 50),
        (WIDTH * 0.5, HEIGHT - rng.uniform(20, 60)),
        (WIDTH, HEIGHT - 40),
        (WIDTH, HEIGHT),
    ]
    draw.polygon(sand, fill=pal.accents[2])
    for _ in range(rng.randint(2, 4)):  # gulls
        gx, gy = rng.uniform(30, WIDTH - 30), rng.uniform(260, horizon - 40)
        draw.arc([gx - 12, gy - 6, gx, gy + 6], 200, 340, fill=(60, 60, 70), width=2)
        draw.arc([gx, gy - 6, gx + 12, gy + 6], 200, 340, fill=(60, 60, 70), width=2)


Motif = Callable[[Image.Image, random.Random, Palette], None]

DARK_BAND, LIGHT_TEXT = (20, 20, 28), (255, 255, 255)
LIGHT_BAND, DARK_TEXT = (252, 250, 244), (20, 20, 28)

GENRES: dict[str, tuple[Palette, Motif]] = {
    "romance": (
        Palette(
            (255, 214, 226),
            (236, 120, 160),
            ((220, 40, 90), (255, 120, 160), (190, 20, 70)),
            LIGHT_BAND,
            (120, 10, 50),
        ),
        motif_romance,
    ),
    "mystery": (
        Palette(
            (20, 30, 60),
            (50, 70, 110),
            ((10, 15, 30), (210, 190, 120), (170, 180, 200)),
            DARK_BAND,
            (240, 230, 200),
        ),
        motif_mystery,
    ),
    "fantasy": (
        Palette(
            (50, 20, 90),
            (150, 80, 170),
            ((90, 50, 130), (60, 30, 100), (250, 210, 90), (30, 15, 50)),
            (40, 15, 70),
            (255, 215, 100),
        ),
        motif_fantasy,
    ),
    "science fiction": (
        Palette(
            (0, 0, 0),
            (0, 60, 70),
            ((0, 220, 210), (60, 160, 200), (200, 120, 60), (150, 220, 180)),
            DARK_BAND,
            (120, 255, 240),
        ),
        motif_scifi,
    ),
    "thriller": (
        Palette(
            (25, 0, 0),
            (5, 5, 5),
            ((200, 10, 20), (120, 0, 10), (240, 40, 40), (60, 60, 60)),
            DARK_BAND,
            LIGHT_TEXT,
        ),
        motif_thriller,
    ),
    "horror": (
        Palette(
            (5, 15, 10),
            (25, 60, 35),
            ((5, 8, 5), (225, 230, 200), (120, 255, 120)),
            DARK_BAND,
            (190, 255, 180),
        ),
        motif_horror,
    ),
    "poetry": (
        Palette(
            (250, 240, 235),
            (230, 235, 250),
            ((250, 190, 200), (180, 220, 240), (200, 240, 200), (240, 220, 160), (215, 195, 240)),
            LIGHT_BAND,
            (70, 50, 90),
        ),
        motif_poetry,
    ),
    "travel": (
        Palette(
            (120, 190, 240),
            (250, 220, 170),
            ((255, 200, 60), (40, 120, 190), (235, 205, 150)),
            LIGHT_BAND,
            (20, 60, 110),
        ),
        motif_travel,
    ),
}


# --------------------------------------------------------------------------- text


def load_font(candidates: list[str], size: int) -> Font:
    """The first TrueType font in ``candidates`` that loads, else Pillow's built-in font."""
    for name in candidates:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)  # scalable in Pillow >= 10.1
    except TypeError:
        return ImageFont.load_default()


def wrap(text: str, font: Font, max_width: float) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``max_width`` (long words stay whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def fit_title(title: str, max_width: float, max_lines: int = 4) -> tuple[Font, list[str]]:
    """The largest title font (down to a floor) whose wrapped lines fit the width and line budget."""
    for size in range(50, 21, -2):
        font = load_font(BOLD_FONTS, size)
        lines = wrap(title.upper(), font, max_width)
        if len(lines) <= max_lines and all(font.getlength(line) <= max_width for line in lines):
            return font, lines
    return font, lines


def line_height(font: Font) -> int:
    _, top, _, bottom = font.getbbox("ÅGgjy")
    return bottom - top


def draw_band(img: Image.Image, box: tuple[float, float, float, float], color: RGB, alpha: int = 235) -> None:
    ImageDraw.Draw(img, "RGBA").rectangle(box, fill=rgba(color, alpha))


def draw_lines(draw: ImageDraw.ImageDraw, lines: list[str], font: Font, top: float, gap: int, color: RGB) -> None:
    """Draw centred lines starting at ``top``."""
    h = line_height(font)
    for i, line in enumerate(lines):
        draw.text((WIDTH / 2, top + i * (h + gap)), line, font=font, fill=color, anchor="mt")


def draw_title(img: Image.Image, title: str, pal: Palette, top: float) -> None:
    font, lines = fit_title(title, WIDTH - 2 * MARGIN - 16)
    gap = 10
    block = len(lines) * line_height(font) + (len(lines) - 1) * gap
    draw_band(img, (MARGIN - 8, top - 18, WIDTH - MARGIN + 8, top + block + 22), pal.band)
    draw_lines(ImageDraw.Draw(img), lines, font, top, gap, pal.text)


def draw_author(img: Image.Image, author: str, pal: Palette) -> None:
    font = load_font(REGULAR_FONTS, 24)
    while font.getlength(author) > WIDTH - 2 * MARGIN and getattr(font, "size", 0) > 14:
        font = load_font(REGULAR_FONTS, int(font.size) - 2)
    h = line_height(font)
    top = HEIGHT - MARGIN - h
    draw_band(img, (0, top - 12, WIDTH, HEIGHT - MARGIN + 14), pal.band)
    draw_lines(ImageDraw.Draw(img), [author], font, top, 0, pal.text)


# --------------------------------------------------------------------------- covers


def seed_for(book_id: str) -> int:
    return zlib.crc32(book_id.encode("utf-8"))


def draw_cover(book: dict[str, str]) -> Image.Image:
    """Draw one cover for a catalog row (needs id, title, author, genre)."""
    rng = random.Random(seed_for(book["id"]))
    base, motif = GENRES.get(book["genre"], GENRES["poetry"])
    pal = vary(base, rng)
    img = gradient(pal)
    motif(img, rng, pal)
    draw_title(img, book["title"], pal, top=rng.uniform(50, 90))
    draw_author(img, book["author"], pal)
    return img


def read_catalog(path: Path = CATALOG) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def make_covers(out_dir: Path, force: bool = False, catalog: Path = CATALOG) -> int:
    """Draw every missing cover (every cover if ``force``) into ``out_dir``; return how many were written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for book in read_catalog(catalog):
        target = out_dir / Path(book["cover"]).name
        if target.exists() and not force:
            continue
        draw_cover(book).save(target, "PNG", optimize=True)
        written += 1
    return written


def make_scenes(covers_dir: Path, out_dir: Path, force: bool = False, catalog: Path = CATALOG) -> int:
    """Render the ``SCENES`` photos from the drawn covers into ``out_dir`` with a ``scenes.csv`` index."""
    from multimodal.photo import SceneConditions, scene_photo

    conditions = SceneConditions(cover_height=(0.5, 0.75), glare=0.0, thumb=0.0, shadow=1.0, blur=(1.0, 0.0, 0.0))
    books = {book["id"]: book for book in read_catalog(catalog)}
    covers = {book_id: Image.open(covers_dir / Path(book["cover"]).name) for book_id, book in books.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    rows = []
    for number, (book_id, background) in enumerate(SCENES, start=1):
        target = out_dir / f"scene-{number}.jpg"
        rows.append({"photo": target.name, "book_id": book_id, "title": books[book_id]["title"]})
        if target.exists() and not force:
            continue
        others = [cover for other_id, cover in sorted(covers.items()) if other_id != book_id][number::7]
        photo = scene_photo(covers[book_id], seed_for(book_id), others, conditions, background=background)
        target.write_bytes(photo.jpeg)
        written += 1
    with (out_dir / "scenes.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=["photo", "book_id", "title"])
        writer.writeheader()
        writer.writerows(rows)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--catalog", type=Path, default=CATALOG, help="catalog CSV to read")
    parser.add_argument("--scenes", type=Path, default=DEFAULT_SCENES, help=f"scene photos (default: {DEFAULT_SCENES})")
    parser.add_argument("--force", action="store_true", help="redraw covers and scenes that already exist")
    args = parser.parse_args(argv)
    written = make_covers(args.out, force=args.force, catalog=args.catalog)
    print(f"wrote {written} cover(s) to {args.out}")
    written = make_scenes(args.out, args.scenes, force=args.force, catalog=args.catalog)
    print(f"wrote {written} scene photo(s) to {args.scenes}")


if __name__ == "__main__":
    main()
