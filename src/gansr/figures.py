"""Comparison pictures a person can read: zoomed crops side by side, a title above and metrics under each panel.

* :func:`most_different_window` - where several SR outputs of one image differ most (the demo grid's crop);
* :func:`most_detailed_window` - where an HR image has the most detail (validation crops: the same window at every
  validation, so the crops of successive iterations compare);
* :func:`crop`, :func:`zoom`, :func:`nearest_upscale` - the panels;
* :func:`panel_figure` - rows of labelled panels (titles, captions, optional row labels) as one RGB image.

Panels are drawn pixel-exact (nearest-neighbour zoom, no smoothing), so what the picture shows is what the network
produced.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

__all__ = ["Panel", "crop", "most_detailed_window", "most_different_window", "nearest_upscale", "panel_figure", "thumbnail", "zoom"]

#: white gaps between panels and rows, and the box drawn on thumbnails, in pixels of the figure
GAP = 8
BOX_COLOUR = (255, 40, 40)


@dataclass
class Panel:
    """One picture of a figure: ``image (3,H,W)`` in [0,1], a title above it, caption lines under it, and an
    optional box ``(top, left, height, width)`` in the image's pixels, drawn as an outline (where a crop comes from)."""

    image: torch.Tensor
    title: str = ""
    caption: tuple[str, ...] = ()
    box: tuple[int, int, int, int] | None = None


def nearest_upscale(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(3,h,w) -> (3,H,W)`` by pixel replication: the LR image shown at HR size without adding detail."""
    return F.interpolate(lr[None].float(), size=size, mode="nearest")[0]


def crop(image: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    """``(3,H,W) -> (3,size,size)`` window at ``(top, left)``, clamped to [0,1]."""
    return image[:, top : top + size, left : left + size].float().cpu().clamp(0, 1)


def zoom(image: torch.Tensor, factor: int) -> torch.Tensor:
    """``(3,h,w) -> (3,factor*h,factor*w)`` nearest-neighbour magnification."""
    return image.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1) if factor > 1 else image


def _best_window(score_map: torch.Tensor, size: int, border: int) -> tuple[int, int]:
    """``score_map (H,W)``: top-left of the ``size`` window (inside ``border``) with the largest mean score."""
    h, w = score_map.shape
    if min(h, w) < size + 2 * border:  # small image: no border, and at most the whole image
        border, size = 0, min(size, h, w)
    inner = score_map[border : h - border, border : w - border]
    stride = max(1, size // 8)
    means = F.avg_pool2d(inner[None, None].double(), kernel_size=size, stride=stride)[0, 0]
    index = int(torch.argmax(means))
    row, col = divmod(index, means.shape[1])
    return border + row * stride, border + col * stride


def most_different_window(outputs: list[torch.Tensor], size: int, border: int = 0) -> tuple[int, int]:
    """Top-left ``(top, left)`` of the ``size x size`` window where the ``outputs (3,H,W)`` disagree most: the mean
    over the window of the per-pixel standard deviation across outputs (averaged over RGB). ``border`` pixels at
    each edge are skipped (the metrics' crop border)."""
    stack = torch.stack([o.float().cpu() for o in outputs])  # (n,3,H,W)
    return _best_window(stack.std(dim=0).mean(dim=0), size, border)


def most_detailed_window(hr: torch.Tensor, size: int, border: int = 0) -> tuple[int, int]:
    """Top-left ``(top, left)`` of the ``size x size`` window of ``hr (3,H,W)`` with the largest mean gradient
    magnitude: textures and edges, where SR methods differ; it depends on HR only, so it stays put across runs."""
    gray = hr.float().cpu().mean(dim=0)
    gy = torch.zeros_like(gray)
    gx = torch.zeros_like(gray)
    gy[1:, :] = (gray[1:, :] - gray[:-1, :]).abs()
    gx[:, 1:] = (gray[:, 1:] - gray[:, :-1]).abs()
    return _best_window(gx + gy, size, border)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _to_pil(image: torch.Tensor) -> Image.Image:
    array = (image.float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array), mode="RGB")


def _text_height(font: ImageFont.ImageFont, text: str = "Ag") -> int:
    return font.getbbox(text)[3] + 2  # bottom of the text box


def panel_figure(rows: list[list[Panel]], heading: str = "", row_labels: list[str] | None = None,
                 font_size: int = 15) -> Image.Image:
    """Rows of :class:`Panel` as one white-background RGB figure: ``heading`` on top, each panel's title above it and
    its caption lines under it (centred), ``row_labels`` (one per row) written above each row. Panels of a column
    should have the same size; each row is as tall as its tallest panel."""
    font, small = _font(font_size), _font(max(font_size - 2, 8))
    line_h, small_h = _text_height(font), _text_height(small)
    n_cols = max(len(r) for r in rows)
    col_w = [max(p.image.shape[-1] for r in rows for p in r[c : c + 1]) for c in range(n_cols)]
    captions = max((len(p.caption) for r in rows for p in r), default=0)
    heading_h = (len(heading.splitlines()) * line_h + GAP) if heading else 0
    label_h = line_h if row_labels else 0
    row_h = [label_h + line_h + max(p.image.shape[-2] for p in r) + captions * small_h + GAP for r in rows]
    width = sum(col_w) + GAP * (n_cols + 1)
    height = GAP + heading_h + sum(row_h) + GAP * len(rows)
    figure = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(figure)
    y = GAP
    for line in heading.splitlines():
        draw.text((GAP, y), line, fill="black", font=font)
        y += line_h
    y += GAP if heading else 0
    for r, (row, h) in enumerate(zip(rows, row_h)):
        if row_labels:
            draw.text((GAP, y), row_labels[r], fill=(60, 60, 60), font=font)
        x = GAP
        for c, panel in enumerate(row):
            cx = x + col_w[c] // 2
            draw.text((cx, y + label_h), panel.title, fill="black", font=font, anchor="ma")
            top = y + label_h + line_h
            picture = _to_pil(panel.image)
            figure.paste(picture, (x + (col_w[c] - picture.width) // 2, top))
            if panel.box is not None:
                bt, bl, bh, bw = panel.box
                px = x + (col_w[c] - picture.width) // 2
                draw.rectangle([px + bl - 1, top + bt - 1, px + bl + bw, top + bt + bh], outline=BOX_COLOUR, width=2)
            ty = top + picture.height + 2
            for line in panel.caption:
                draw.text((cx, ty), line, fill=(30, 30, 30), font=small, anchor="ma")
                ty += small_h
            x += col_w[c] + GAP
        y += h + GAP
    return figure


def thumbnail(image: torch.Tensor, height: int) -> tuple[torch.Tensor, float]:
    """``(3,H,W) -> (3,height,W*height/H)`` (area-averaged when shrinking) and the factor applied."""
    factor = height / image.shape[-2]
    size = (height, max(1, round(image.shape[-1] * factor)))
    mode = "area" if factor < 1 else "nearest"
    return F.interpolate(image[None].float().cpu(), size=size, mode=mode)[0].clamp(0, 1), factor


def _scores(sr: torch.Tensor, hr: torch.Tensor, border: int) -> str:
    """``PSNR dB / SSIM`` on Y with ``border`` pixels cropped (the project's table convention, docs/methods.md §1.8)."""
    from gansr.metrics.psnr_ssim import psnr, ssim

    sr, hr = sr[None].float().cpu().clamp(0, 1), hr[None].float().cpu().clamp(0, 1)
    return f"{float(psnr(sr, hr, crop_border=border)):.2f} dB / {float(ssim(sr, hr, crop_border=border)):.4f}"


def comparison_row(lr: torch.Tensor, outputs: dict[str, torch.Tensor], hr: torch.Tensor, *, scale: int,
                   crop_size: int, zoom_factor: int, window: tuple[int, int] | None = None) -> list[Panel]:
    """One image as a row of panels: the HR thumbnail with the crop boxed | LR (nearest) | each output | HR, the
    last ones as the same ``crop_size`` window zoomed ``zoom_factor`` times, captioned with PSNR/SSIM (Y, border
    ``scale``) of the whole image and of the crop.

    Args:
        lr: ``(3,h,w)``; outputs: name -> ``(3,s*h,s*w)`` SR image; hr: ``(3,s*h,s*w)``.
        window: ``(top, left)`` of the crop; None = :func:`most_different_window` of the outputs.
    """
    size = hr.shape[-2:]
    top, left = window or most_different_window(list(outputs.values()), crop_size, border=scale)
    c = min(crop_size, size[0] - top, size[1] - left)
    panel_h = c * zoom_factor
    thumb, factor = thumbnail(hr, panel_h)
    box = (round(top * factor), round(left * factor), max(2, round(c * factor)), max(2, round(c * factor)))
    panels = [
        Panel(thumb, "HR (whole image)", (f"{size[1]}x{size[0]} px", f"box: {c}x{c} crop"), box=box),
        Panel(zoom(crop(nearest_upscale(lr, tuple(size)), top, left, c), zoom_factor), "LR",
              (f"{lr.shape[-1]}x{lr.shape[-2]} px", f"shown x{scale} nearest"))
    ]
    hr_crop = crop(hr, top, left, c)
    for name, sr in outputs.items():
        panels.append(Panel(zoom(crop(sr, top, left, c), zoom_factor), name,
                            (f"image {_scores(sr, hr, scale)}", f"crop {_scores(crop(sr, top, left, c), hr_crop, 0)}")))
    panels.append(Panel(zoom(hr_crop, zoom_factor), "HR", ("reference", "PSNR dB / SSIM on Y")))
    return panels
