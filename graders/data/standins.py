"""Deterministic built-in stand-ins for MNIST, CIFAR-10 and the ants/bees images, used when no real data is on disk."""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Digit strokes in a unit box (x right, y down), drawn like a hand would: each digit is a list of
# polylines given as points or as elliptic arcs ("arc", cx, cy, rx, ry, from_deg, to_deg); angles
# follow the y-down screen convention, so -90 is the top of an arc.
_DIGITS: list[list[list]] = [
    [["arc", 0.5, 0.5, 0.17, 0.29, -90, 270]],
    [[(0.40, 0.30), (0.53, 0.19), (0.53, 0.81)]],
    [["arc", 0.5, 0.35, 0.17, 0.15, -180, 30], [(0.65, 0.43), (0.32, 0.80), (0.70, 0.80)]],
    [["arc", 0.5, 0.34, 0.15, 0.14, -160, 90], ["arc", 0.5, 0.64, 0.18, 0.16, -90, 160]],
    [[(0.60, 0.19), (0.30, 0.62), (0.72, 0.62)], [(0.60, 0.40), (0.60, 0.81)]],
    [[(0.68, 0.20), (0.37, 0.20), (0.35, 0.47)], ["arc", 0.5, 0.63, 0.18, 0.17, -145, 150]],
    [[(0.64, 0.19), (0.42, 0.40), (0.34, 0.63)], ["arc", 0.5, 0.64, 0.16, 0.16, -180, 180]],
    [[(0.30, 0.20), (0.70, 0.20), (0.45, 0.81)]],
    [["arc", 0.5, 0.34, 0.14, 0.14, 90, 450], ["arc", 0.5, 0.65, 0.17, 0.16, -90, 270]],
    [["arc", 0.5, 0.36, 0.16, 0.16, 0, 360], [(0.66, 0.36), (0.60, 0.81)]],
]


def _polyline(stroke: list) -> list[tuple[float, float]]:
    """Turn one stroke spec into points; arcs get a point every 40 degrees or so (smooth enough at 28 px)."""
    if stroke[0] != "arc":
        return list(stroke)
    _, cx, cy, rx, ry, a0, a1 = stroke
    steps = max(2, round(abs(a1 - a0) / 40))
    angles = [math.radians(a0 + (a1 - a0) * i / steps) for i in range(steps + 1)]
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def _digit_segments() -> tuple[Tensor, Tensor]:
    """Padded templates: points (10, K, 2) and segment point indices (10, S, 2).

    Padding repeats point 0 as a zero-length segment, which lies on the stroke and so never changes
    the nearest-stroke distance.
    """
    points, pairs = [], []
    for strokes in _DIGITS:
        pts: list[tuple[float, float]] = []
        segs: list[tuple[int, int]] = []
        for stroke in strokes:
            line = _polyline(stroke)
            segs += [(len(pts) + i, len(pts) + i + 1) for i in range(len(line) - 1)]
            pts += line
        points.append(pts)
        pairs.append(segs)
    k, s = max(map(len, points)), max(map(len, pairs))
    pts_t = torch.zeros(10, k, 2)
    idx_t = torch.zeros(10, s, 2, dtype=torch.long)
    for c in range(10):
        pts_t[c, : len(points[c])] = torch.tensor(points[c])
        idx_t[c, : len(pairs[c])] = torch.tensor(pairs[c])
    return pts_t, idx_t


def _grid(size: int) -> Tensor:
    """Pixel-centre coordinates (size*size, 2) as (x, y) in pixels."""
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def _segment_distance2(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Squared distance from pixels p (P, 2) to segments a->b (N, S, 2): returns (N, S, P)."""
    # The hot loop: x and y kept apart and updated in place, which halves the memory traffic.
    ax, ay = a[..., :1], a[..., 1:]  # (N, S, 1)
    dx, dy = b[..., :1] - ax, b[..., 1:] - ay
    px, py = p[:, 0] - ax, p[:, 1] - ay  # (N, S, P)
    t = (px * dx).addcmul_(py, dy).div_((dx * dx + dy * dy).clamp_min(1e-9)).clamp_(0, 1)
    px.addcmul_(t, dx, value=-1).square_()
    py.addcmul_(t, dy, value=-1)
    return px.addcmul_(py, py)


def _random_affine(n: int, g: torch.Generator) -> Tensor:
    """Per-sample 2x2 maps: rotation +-15 deg, slant, scale 0.8-1.1 (MNIST writers vary this much)."""
    angle = (torch.rand(n, generator=g) - 0.5) * math.radians(30)
    shear = (torch.rand(n, generator=g) - 0.5) * 0.6
    scale = 0.8 + 0.3 * torch.rand(n, 2, generator=g)
    cos, sin = angle.cos(), angle.sin()
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], 1)  # (N, 2, 2)
    slant = torch.eye(2).repeat(n, 1, 1)
    slant[:, 0, 1] = shear
    return rot @ slant @ torch.diag_embed(scale)


def mnist_like(n: int, *, seed: int) -> tuple[Tensor, Tensor]:
    """n hand-drawn-looking digits: images uint8 (n, 28, 28), labels int64 (n,) cycling 0..9.

    Each digit is its stroke template with per-point jitter, a random rotation/slant/scale/shift,
    a random stroke width and pixel noise, so classes overlap a little (a slanted 1 near a 7, a 9 near a 4).
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    pts, idx = _digit_segments()
    p = pts[labels] + 0.012 * torch.randn(n, pts.shape[1], 2, generator=g)  # (N, K, 2)
    shift = 0.08 * (torch.rand(n, 1, 2, generator=g) - 0.5) * 2
    p = (p - 0.5) @ _random_affine(n, g).transpose(1, 2) + 0.5 + shift
    p = p * 28  # unit box -> pixels
    seg = torch.gather(p.unsqueeze(1).expand(-1, idx.shape[1], -1, -1), 2,
                       idx[labels].unsqueeze(-1).expand(-1, -1, -1, 2))  # (N, S, 2, 2)
    width = 0.9 + 0.8 * torch.rand(n, 1, generator=g)  # half stroke width in pixels
    grid, out = _grid(28), torch.empty(n, 28 * 28)
    for start in range(0, n, 512):  # chunks keep the (N, S, P) distance tensor small
        sl = slice(start, start + 512)
        d = _segment_distance2(grid, seg[sl, :, 0], seg[sl, :, 1]).amin(1).sqrt()  # (n, P)
        out[sl] = (width[sl] + 0.5 - d).clamp(0, 1)
    out = out + 0.08 * torch.randn(out.shape, generator=g) * (out > 0)
    return _to_uint8(out.view(n, 28, 28)), labels


def _to_uint8(x: Tensor) -> Tensor:
    """Map [0, 1] floats to uint8 pixels."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def _local_coords(
    n: int, size: int, g: torch.Generator, spread: float, scale: tuple[float, float]
) -> tuple[Tensor, Tensor]:
    """Per-sample rotated, shifted, scaled coordinates x, y (N, size, size) over a [-1, 1] image."""
    v, u = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    centre = spread * (2 * torch.rand(n, 2, 1, 1, generator=g) - 1)
    radius = scale[0] + (scale[1] - scale[0]) * torch.rand(n, 1, 1, generator=g)
    angle = (2 * torch.rand(n, 1, 1, generator=g) - 1) * math.pi
    du, dv = u - centre[:, 0], v - centre[:, 1]
    x = (du * angle.cos() + dv * angle.sin()) / radius
    y = (-du * angle.sin() + dv * angle.cos()) / radius
    return x, y


def _cifar_shapes(x: Tensor, y: Tensor, labels: Tensor, freq: Tensor, phase: Tensor) -> Tensor:
    """Signed 'inside' fields (N, H, W) for the ten classes; positive means foreground."""
    r = (x * x + y * y).sqrt()
    fields = [
        1 - r,  # disk
        1 - torch.maximum(x.abs(), y.abs()),  # square
        torch.minimum(0.5 - y, 0.58 * (y + 1) - x.abs()),  # triangle
        0.25 - (r - 0.7).abs(),  # ring
        torch.maximum(torch.minimum(0.3 - x.abs(), 1 - y.abs()), torch.minimum(0.3 - y.abs(), 1 - x.abs())),  # plus
        torch.sin(freq * y + phase),  # stripes
        torch.sin(freq * x + phase) * torch.sin(freq * y + phase),  # checks
        torch.minimum(0.35 - y.abs(), 1.2 - x.abs()),  # bar
        torch.sin(freq * r + phase) * (r < 1.2),  # target rings
        0.45 - torch.minimum(((x - 0.55) ** 2 + y * y).sqrt(), ((x + 0.55) ** 2 + y * y).sqrt()),  # two dots
    ]
    return torch.stack(fields, 1).gather(1, labels.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[1:])).squeeze(1)


# A weak per-class colour bias, like CIFAR's blue skies behind planes and ships: the shape decides,
# the colour only hints.
_CIFAR_TINT = torch.tensor([[0.2, 0.3, 0.6], [0.5, 0.2, 0.2], [0.3, 0.5, 0.2], [0.5, 0.4, 0.2], [0.4, 0.3, 0.3],
                            [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.5, 0.3, 0.4], [0.2, 0.4, 0.5], [0.4, 0.4, 0.4]])


def cifar_like(n: int, *, seed: int) -> tuple[Tensor, Tensor]:
    """n colour images uint8 (n, 32, 32, 3) of ten shape/texture classes, labels int64 (n,) cycling 0..9.

    Random position, size, rotation and colours, a class-dependent tint, soft edges and pixel noise.
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    x, y = _local_coords(n, 32, g, spread=0.35, scale=(0.35, 0.65))
    freq = 2.5 + 2.5 * torch.rand(n, 1, 1, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, 1, generator=g)
    inside = torch.sigmoid(8 * _cifar_shapes(x, y, labels, freq, phase)).unsqueeze(-1)  # (N, H, W, 1)
    tint = _CIFAR_TINT[labels].view(n, 1, 1, 3)
    fg = (tint + 0.6 * torch.rand(n, 1, 1, 3, generator=g)).clamp(0, 1)
    bg = (0.6 * (1 - fg) + 0.4 * torch.rand(n, 1, 1, 3, generator=g)).clamp(0, 1)  # contrasting, mostly
    img = inside * fg + (1 - inside) * bg + 0.06 * torch.randn(n, 32, 32, 3, generator=g)
    return _to_uint8(img), labels


def _ants(x: Tensor, y: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Ant masks (A, H, W, 1) and colours (A, 1, 1, 3): head, thorax and abdomen as dark blobs, black to red-brown."""
    field = torch.full_like(x, -1.0)
    for cx, rx, ry in ((-0.7, 0.22, 0.18), (-0.2, 0.2, 0.14), (0.45, 0.42, 0.28)):
        field = torch.maximum(field, 1 - ((x - cx) / rx) ** 2 - (y / ry) ** 2)
    red = torch.rand(x.shape[0], 1, 1, 1, generator=g)
    return torch.sigmoid(12 * field).unsqueeze(-1), 0.05 + 0.35 * red * torch.tensor([1.0, 0.5, 0.3])


def _bees(x: Tensor, y: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Bee masks (B, H, W, 1) and colours (B, H, W, 3): a yellow/black striped oval with pale wings."""
    body = 1 - (x / 0.75) ** 2 - (y / 0.42) ** 2
    wings = 1 - ((x + 0.1) / 0.35) ** 2 - ((y.abs() - 0.5) / 0.25) ** 2
    stripes = (torch.sin(9 * x) > 0).unsqueeze(-1)
    rgb = torch.where(stripes, torch.tensor([0.85, 0.65, 0.1]), torch.tensor([0.15, 0.1, 0.05]))
    rgb = torch.where((body < wings).unsqueeze(-1), torch.tensor([0.8, 0.8, 0.85]), rgb)
    light = 0.7 + 0.4 * torch.rand(x.shape[0], 1, 1, 1, generator=g)
    return torch.sigmoid(12 * torch.maximum(body, wings)).unsqueeze(-1), rgb * light


def two_class(n: int, *, size: int, seed: int) -> tuple[Tensor, Tensor]:
    """n ants-or-bees images uint8 (n, size, size, 3), labels int64 (n,) alternating 0 (ants) and 1 (bees).

    One insect at a random place, size and angle on a blotchy random background (grass, flowers),
    with pixel noise; the colour and shape of the body tell the classes apart, not the background.
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    bx, by = _local_coords(n, size, g, spread=1.0, scale=(0.5, 1.0))
    blotch = torch.sigmoid(4 * torch.sin(3 * bx) * torch.sin(3 * by)).unsqueeze(-1)  # (N, H, W, 1)
    img = torch.lerp(torch.rand(n, 1, 1, 3, generator=g), torch.rand(n, 1, 1, 3, generator=g), blotch)
    x, y = _local_coords(n, size, g, spread=0.3, scale=(0.3, 0.55))
    for cls, draw in ((0, _ants), (1, _bees)):
        pick = labels == cls
        mask, rgb = draw(x[pick], y[pick], g)
        img[pick] = torch.lerp(img[pick], rgb, mask)
    img += 0.05 * torch.randn(img.shape, generator=g)
    return _to_uint8(img), labels
