"""Synthetic PA chest-film phantoms whose region abnormalities look the way reports describe them.

Coordinates are fractions of the image side, x to the viewer's right (the patient's left, so the
heart and aortic knob sit right of centre), y downwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class Anatomy:
    """Geometry of one phantom; abnormalities are drawn by changing it or painting on top."""

    cx: float
    cy: float
    half_width: tuple[float, float]  # thorax half-widths, viewer's left and right
    lung_width: tuple[float, float]
    heart: tuple[float, float]  # heart shadow semi-axes
    knob: float  # aortic knob radius
    dome: tuple[float, float]  # diaphragm dome tops (y), viewer's left and right


class Canvas:
    """A float image in [0, 1] with the pixel grid in image fractions."""

    def __init__(self, size: int) -> None:
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.x, self.y = np.meshgrid(axis, axis)
        self.pixels = np.zeros((size, size), dtype=np.float32)
        self.lungs = np.zeros((size, size), dtype=bool)

    def ellipse(self, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
        return ((self.x - cx) / ax) ** 2 + ((self.y - cy) / ay) ** 2 <= 1.0

    def blob(self, cx: float, cy: float, sigma: float) -> np.ndarray:
        return np.exp(-((self.x - cx) ** 2 + (self.y - cy) ** 2) / (2 * sigma**2))


def normal_anatomy(rng: np.random.Generator) -> Anatomy:
    scale = rng.uniform(0.95, 1.05)
    half = 0.40 * scale
    dome = rng.uniform(0.74, 0.78)
    return Anatomy(
        cx=0.5 + rng.uniform(-0.02, 0.02),
        cy=0.53 + rng.uniform(-0.02, 0.02),
        half_width=(half, half),
        lung_width=(0.15 * scale, 0.15 * scale),
        heart=(rng.uniform(0.10, 0.12) * scale, rng.uniform(0.09, 0.10) * scale),
        knob=rng.uniform(0.028, 0.036),
        # The right hemidiaphragm (viewer's left) normally sits a little higher.
        dome=(dome - 0.015, dome),
    )


def _asymmetric_thorax(a: Anatomy, rng: np.random.Generator) -> Anatomy:
    side = int(rng.integers(2))
    shrink = rng.uniform(0.68, 0.76)
    half = list(a.half_width)
    lung = list(a.lung_width)
    half[side] *= shrink
    lung[side] *= shrink
    return Anatomy(a.cx, a.cy, tuple(half), tuple(lung), a.heart, a.knob, a.dome)


def _enlarged_heart(a: Anatomy, rng: np.random.Generator) -> Anatomy:
    grow = rng.uniform(1.55, 1.8)
    return Anatomy(
        a.cx,
        a.cy,
        a.half_width,
        a.lung_width,
        (a.heart[0] * grow, a.heart[1] * 1.3),
        a.knob,
        a.dome,
    )


def _prominent_knob(a: Anatomy, rng: np.random.Generator) -> Anatomy:
    return Anatomy(
        a.cx, a.cy, a.half_width, a.lung_width, a.heart, a.knob * rng.uniform(1.8, 2.1), a.dome
    )


def _raised_dome(a: Anatomy, rng: np.random.Generator) -> Anatomy:
    dome = list(a.dome)
    dome[int(rng.integers(2))] -= rng.uniform(0.16, 0.2)
    return Anatomy(a.cx, a.cy, a.half_width, a.lung_width, a.heart, a.knob, tuple(dome))


def _lung_centres(a: Anatomy) -> tuple[tuple[float, float], tuple[float, float]]:
    left = (a.cx - 0.04 - a.lung_width[0], a.cy - 0.05)
    right = (a.cx + 0.04 + a.lung_width[1], a.cy - 0.05)
    return left, right


def heart_centre(a: Anatomy) -> tuple[float, float]:
    """Centre of the heart shadow (semi-axes `a.heart`), in image fractions."""
    return a.cx + 0.04, a.cy + 0.11


def _draw(canvas: Canvas, a: Anatomy, rng: np.random.Generator) -> None:
    x, y, px = canvas.x, canvas.y, canvas.pixels
    px[:] = 0.06
    # Soft tissue of the chest, each half with its own width so the thorax can be asymmetric.
    left = (x < a.cx) & canvas.ellipse(a.cx, a.cy, a.half_width[0], 0.47)
    right = (x >= a.cx) & canvas.ellipse(a.cx, a.cy, a.half_width[1], 0.47)
    px[left | right] = 0.48
    # Lungs, cut from below by the diaphragm domes; the denser abdomen lies under the domes.
    lungs = canvas.lungs
    for side, (lx, ly) in enumerate(_lung_centres(a)):
        below = y >= a.dome[side] + 2.5 * (x - lx) ** 2
        px[(left if side == 0 else right) & below] = 0.6
        lungs |= canvas.ellipse(lx, ly, a.lung_width[side], 0.31) & ~below
    px[lungs] = 0.17
    # Ribs: bright arcs across the lung fields.
    for k in range(9):
        arc = 0.20 + 0.062 * k + 0.35 * (x - a.cx) ** 2
        px[lungs & (np.abs(y - arc) < 0.009)] += 0.10
    # Mediastinum, heart shadow and aortic knob.
    px[(np.abs(x - a.cx) < 0.045) & (y > 0.14) & (y < a.cy + 0.1)] = 0.55
    px[canvas.ellipse(*heart_centre(a), *a.heart)] = 0.62
    px[canvas.ellipse(a.cx + 0.045, a.cy - 0.22, a.knob, a.knob)] = 0.62


def _paint_lungs(canvas: Canvas, a: Anatomy, rng: np.random.Generator) -> None:
    """Patchy opacities (斑片模糊影) or nodules (结节状致密影) in the lung fields."""
    centres = _lung_centres(a)
    for _ in range(int(rng.integers(2, 5))):
        side = int(rng.integers(2))
        lx, ly = centres[side]
        cx = lx + rng.uniform(-0.5, 0.5) * a.lung_width[side]
        cy = ly + rng.uniform(-0.15, 0.15)
        if rng.random() < 0.5:
            canvas.pixels += 0.4 * canvas.blob(cx, cy, rng.uniform(0.05, 0.07))
        else:
            r = rng.uniform(0.035, 0.045)
            canvas.pixels[canvas.ellipse(cx, cy, r, r)] += 0.38


def _paint_calcification(canvas: Canvas, a: Anatomy, rng: np.random.Generator) -> None:
    """Calcified rim on the upper, lateral edge of the aortic knob (钙化灶)."""
    kx, ky = a.cx + 0.045, a.cy - 0.22
    ring = canvas.ellipse(kx, ky, a.knob, a.knob) & ~canvas.ellipse(
        kx, ky, a.knob * 0.7, a.knob * 0.7
    )
    canvas.pixels[ring & (canvas.y < ky)] = 0.95


def _paint_blunted_angle(canvas: Canvas, a: Anatomy, rng: np.random.Generator) -> None:
    """Fluid filling a costophrenic angle (肋膈角变钝)."""
    side = int(rng.integers(2))
    lx, _ = _lung_centres(a)[side]
    edge = lx + (1 if side else -1) * 0.8 * a.lung_width[side]
    fluid = canvas.ellipse(edge, a.dome[side] + 0.02, 0.13, 0.17)
    canvas.pixels[fluid & canvas.lungs] = 0.6


Reshape = Callable[[Anatomy, np.random.Generator], Anatomy]
Paint = Callable[[Canvas, Anatomy, np.random.Generator], None]


@dataclass(frozen=True)
class Abnormality:
    """How one region looks when abnormal: a change of geometry and/or paint on top."""

    reshape: tuple[Reshape, ...] = ()
    paint: tuple[Paint, ...] = ()


def _diaphragm(rng: np.random.Generator) -> Abnormality:
    if rng.random() < 0.5:
        return Abnormality(reshape=(_raised_dome,))
    return Abnormality(paint=(_paint_blunted_angle,))


def _aorta(rng: np.random.Generator) -> Abnormality:
    paint = (_paint_calcification,) if rng.random() < 0.5 else ()
    return Abnormality(reshape=(_prominent_knob,), paint=paint)


# Region id → a draw of its abnormality, in the rule pack's vector order (a test holds them
# equal); the demo data's region list is these keys.
ABNORMALITIES: Mapping[str, Callable[[np.random.Generator], Abnormality]] = {
    "thorax": lambda rng: Abnormality(reshape=(_asymmetric_thorax,)),
    "lungs": lambda rng: Abnormality(paint=(_paint_lungs,)),
    "aorta": _aorta,
    "heart": lambda rng: Abnormality(reshape=(_enlarged_heart,)),
    "diaphragm": _diaphragm,
}
PHANTOM_REGIONS = tuple(ABNORMALITIES)


def draw_phantom(
    abnormal: Mapping[str, bool], rng: np.random.Generator, size: int = 256
) -> Image.Image:
    """An 8-bit grey film; `abnormal` names the regions drawn abnormal."""
    return draw_phantom_with_anatomy(abnormal, rng, size)[0]


def draw_phantom_with_anatomy(
    abnormal: Mapping[str, bool], rng: np.random.Generator, size: int = 256
) -> tuple[Image.Image, Anatomy]:
    """`draw_phantom`'s film with the geometry it was drawn from, to know where things are."""
    unknown = set(abnormal) - set(ABNORMALITIES)
    if unknown:
        raise ValueError(f"no phantom drawing for regions {sorted(unknown)}")
    findings = [ABNORMALITIES[r](rng) for r, flag in abnormal.items() if flag]
    anatomy = normal_anatomy(rng)
    for finding in findings:
        for reshape in finding.reshape:
            anatomy = reshape(anatomy, rng)
    canvas = Canvas(size)
    _draw(canvas, anatomy, rng)
    for finding in findings:
        for paint in finding.paint:
            paint(canvas, anatomy, rng)
    # Exposure, contrast and quantum noise vary from film to film.
    pixels = canvas.pixels * rng.uniform(0.85, 1.1) + rng.uniform(-0.05, 0.05)
    pixels += rng.normal(0.0, 0.03, pixels.shape).astype(np.float32)
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode="L")
    return image.filter(ImageFilter.GaussianBlur(radius=size / 200)), anatomy
