"""`hn bots --plot`: a PNG of the latency per message type, drawn with Pillow (no plotting stack).

One row per message type: a bar to its p50, a lighter one on to its p99, the figures written
beside it; a scale of milliseconds along the top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

from hn_stats import percentile

__all__ = ["latency_png"]

_WIDTH = 900
_ROW = 28
_LEFT = 190  # room for the message type's name
_RIGHT = 250  # room for the figures
_TOP = 64
_BG, _INK, _GRID = (255, 255, 255), (30, 30, 30), (225, 225, 225)
P50, P99 = (52, 101, 164), (166, 196, 230)


def _nice_step(top: float) -> float:
    """A round tick spacing that puts 4 to 10 ticks under `top`."""
    step = 10.0 ** (len(str(int(max(top, 1.0)))) - 1)
    while top / step < 4:
        step /= 2
    while top / step > 10:
        step *= 2
    return step


def latency_png(path: str, title: str, latency_ms: Mapping[str, Sequence[float]]) -> None:
    """Write the chart of `latency_ms` (message type -> call latencies in ms) to `path`."""
    types = sorted(t for t, samples in latency_ms.items() if samples)
    height = _TOP + _ROW * max(1, len(types)) + 24
    image = Image.new("RGB", (_WIDTH, height), _BG)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    draw.text((12, 10), title, fill=_INK, font=font)
    figures = {t: (percentile(latency_ms[t], 0.5), percentile(latency_ms[t], 0.99), len(latency_ms[t])) for t in types}
    top = max((p99 for _, p99, _ in figures.values()), default=1.0) or 1.0
    step = _nice_step(top)
    span = _WIDTH - _LEFT - _RIGHT
    scale = span / (step * (int(top / step) + 1))
    tick = 0.0
    while _LEFT + tick * scale <= _LEFT + span:
        x = _LEFT + tick * scale
        draw.line((x, _TOP - 6, x, height - 20), fill=_GRID)
        draw.text((x - 8, _TOP - 24), f"{tick:g}", fill=_INK, font=font)
        tick += step
    draw.text((_LEFT + span + 24, _TOP - 24), "ms", fill=_INK, font=font)
    for row, kind in enumerate(types):
        p50, p99, calls = figures[kind]
        y = _TOP + row * _ROW + 4
        draw.text((12, y + 2), kind, fill=_INK, font=font)
        draw.rectangle((_LEFT, y, _LEFT + max(1.0, p99 * scale), y + _ROW - 10), fill=P99)
        draw.rectangle((_LEFT, y, _LEFT + max(1.0, p50 * scale), y + _ROW - 10), fill=P50)
        label = f"p50 {p50:.1f}  p99 {p99:.1f} ms  ({calls} calls)"
        draw.text((_LEFT + span + 8, y + 2), label, fill=_INK, font=font)
    image.save(path, format="PNG")
