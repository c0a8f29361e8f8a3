"""Random affine distortions of image batches (Koch, Zemel and Salakhutdinov 2015), on the whole batch at once,
optionally with smooth elastic ones on top (Simard, Steinkraus and Platt 2003: handwriting bends, not only shears).

Apply them to images scaled to [0, 1] *before* mean/std normalisation: the area uncovered by a shift or
rotation is filled with `fill` (the background: 0 for bright strokes on black, such as inverted characters
and signatures), and after normalisation the background is no longer a fixed known value.
A training step: `x = random_affine(images.float() / 255, config, generator)`, then `normalize_batch(x, preprocessing)`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from siamkit.config_types import check_field_types
from siamkit.errors import ConfigError, DataError

# Number of uniform random draws per image: 4 component switches, angle, 2 shears, 2 scales, 2 shifts, flip.
_DRAWS = 12


@dataclass
class AugmentationConfig:
    """Koch et al.'s affine augmentation; each component is switched on per image with `probability`.

    Defaults are the paper's: rotation ±10°, shear ±0.3 (x and y), scale 0.8–1.2 (x and y independently) and
    translation ±2 px at 105 px, scaled with the image size (±0.53 px at 28 px). Augmentation is off unless
    `enabled` is set, because it suits images only (never vectors); horizontal flips are off because they
    change the meaning of characters and signatures.

    Attributes:
        enabled: Apply augmentation at all.
        rotation_degrees: Rotations are uniform in ±this many degrees.
        shear: Shear factors (x and y) are uniform in ±this (below 1, so the transform stays invertible).
        scale_range: `(low, high)` range of the x and y scale factors.
        translation_pixels: Shifts are uniform in ±this many pixels at `reference_size`.
        reference_size: The image size `translation_pixels` refers to; shifts scale with the actual size.
        probability: Chance that each of rotation, shear, scale and translation is applied to an image.
        horizontal_flip: Also mirror half the images left-right (for faces, say; not for characters).
        fill: Value of the area a transform uncovers, on the [0, 1] scale: 0 for bright ink on black,
            1 for dark ink on white paper. It also tells `thicken_strokes` which side is ink.
        thicken_strokes: Thicken the strokes of an image (with `probability`) by a whole number of pixels
            drawn uniformly from 1 to this, as a broader pen would (a grey-scale dilation of the ink); 0 = off.
            Never thins them: strokes of one or two pixels would vanish.
        elastic_pixels: Largest displacement of an elastic distortion, in pixels at `reference_size` (scaled with
            the image like `translation_pixels`), applied with `probability`; 0 = off. Each image draws its own
            smooth field: random shifts at `elastic_grid` x `elastic_grid` control points, interpolated bicubically
            over the image, so strokes bend locally the way one hand's strokes differ from one signing to the next.
        elastic_grid: Control points per side of the elastic field; fewer points give broader, smoother bends.
        erase_probability: Chance that an image has one random rectangle erased to `fill` (random erasing, Zhong
            et al. 2020, after the other distortions); 0 = off. A network that cannot count on every part of the
            image being there learns to use all of it, as person re-identification models do against occlusion.
        erase_area: `(low, high)` range of the erased rectangle's share of the image; its aspect ratio is drawn
            log-uniformly from 0.3 to 3.3 (the paper's range), and it always lies inside the image.
    """

    enabled: bool = False
    rotation_degrees: float = 10.0
    shear: float = 0.3
    scale_range: tuple[float, float] = (0.8, 1.2)
    translation_pixels: float = 2.0
    reference_size: int = 105
    probability: float = 0.5
    horizontal_flip: bool = False
    fill: float = 0.0
    thicken_strokes: int = 0
    elastic_pixels: float = 0.0
    elastic_grid: int = 4
    erase_probability: float = 0.0
    erase_area: tuple[float, float] = (0.02, 0.2)

    def __post_init__(self) -> None:
        check_field_types(self, "augmentation")
        self.scale_range = (float(self.scale_range[0]), float(self.scale_range[1]))
        self.erase_area = (float(self.erase_area[0]), float(self.erase_area[1]))
        if self.rotation_degrees < 0 or self.translation_pixels < 0:
            raise ConfigError("augmentation rotation_degrees and translation_pixels must not be negative")
        if not 0 <= self.shear < 1:
            raise ConfigError(f"augmentation shear must be in [0, 1), got {self.shear}")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ConfigError(f"augmentation scale_range must satisfy 0 < low <= high, got {self.scale_range}")
        if not 0 <= self.probability <= 1:
            raise ConfigError(f"augmentation probability must be in [0, 1], got {self.probability}")
        if self.reference_size < 1:
            raise ConfigError(f"augmentation reference_size must be positive, got {self.reference_size}")
        if not 0 <= self.thicken_strokes <= 8:
            raise ConfigError(f"augmentation thicken_strokes must be in 0..8 pixels, got {self.thicken_strokes}")
        if not 0 <= self.elastic_pixels <= 32:
            raise ConfigError(f"augmentation elastic_pixels must be in [0, 32], got {self.elastic_pixels}")
        if self.elastic_grid < 2:
            raise ConfigError(f"augmentation elastic_grid must be at least 2, got {self.elastic_grid}")
        if not 0 <= self.erase_probability <= 1:
            raise ConfigError(f"augmentation erase_probability must be in [0, 1], got {self.erase_probability}")
        low, high = self.erase_area
        if not 0 < low <= high <= 1:
            raise ConfigError(f"augmentation erase_area must satisfy 0 < low <= high <= 1, got {self.erase_area}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scale_range"] = list(self.scale_range)
        # Recipes written before these options existed keep their exact text.
        if not self.thicken_strokes:
            del data["thicken_strokes"]
        if not self.elastic_pixels:
            del data["elastic_pixels"]
            del data["elastic_grid"]
        if self.erase_probability:
            data["erase_area"] = list(self.erase_area)
        else:
            del data["erase_probability"]
            del data["erase_area"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentationConfig:
        known = {field.name for field in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"augmentation config has unknown fields: {sorted(unknown)}")
        return cls(**data)


def sample_transforms(
    batch_size: int, height: int, width: int, config: AugmentationConfig, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draws each image's forward transform in pixel units about the image centre.

    Returns:
        `(matrices, shifts, moved)`: `(B, 2, 2)` linear parts (rotation @ shear @ scale @ flip), `(B, 2)` shifts
        in pixels (x, y), and `(B,)` bool, whether any component was applied to the image.
    """
    draws = torch.rand(batch_size, _DRAWS, generator=generator, dtype=torch.float64)
    switches = draws[:, :4] < config.probability
    rotate, shear, scale, translate = switches.unbind(dim=1)

    def symmetric(column: int, limit: float) -> torch.Tensor:
        return (draws[:, column] * 2 - 1) * limit

    angle = torch.where(rotate, symmetric(4, math.radians(config.rotation_degrees)), 0.0)
    shear_x = torch.where(shear, symmetric(5, config.shear), 0.0)
    shear_y = torch.where(shear, symmetric(6, config.shear), 0.0)
    low, high = config.scale_range
    scale_x = torch.where(scale, low + draws[:, 7] * (high - low), 1.0)
    scale_y = torch.where(scale, low + draws[:, 8] * (high - low), 1.0)
    shift_x = torch.where(translate, symmetric(9, config.translation_pixels * width / config.reference_size), 0.0)
    shift_y = torch.where(translate, symmetric(10, config.translation_pixels * height / config.reference_size), 0.0)
    flip = (draws[:, 11] < 0.5) & config.horizontal_flip
    mirror = torch.where(flip, -1.0, 1.0)

    cosine, sine = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cosine, -sine], -1), torch.stack([sine, cosine], -1)], -2)
    ones = torch.ones_like(shear_x)
    shearing = torch.stack([torch.stack([ones, shear_x], -1), torch.stack([shear_y, ones], -1)], -2)
    scaling = torch.diag_embed(torch.stack([scale_x * mirror, scale_y], -1))
    matrices = rotation @ shearing @ scaling
    moved = switches.any(dim=1) | flip
    return matrices, torch.stack([shift_x, shift_y], -1), moved


def random_affine(
    batch: torch.Tensor, config: AugmentationConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Distorts each image of `batch` with its own random affine transform (one `grid_sample` for the batch),
    and with its own elastic field where `config.elastic_pixels` is set.

    Args:
        batch: `(B, C, H, W)` floats, scaled to [0, 1] and not yet normalised (see the module docstring).
        config: The distortions; when `enabled` is False the batch is returned unchanged (the same tensor).
        generator: Source of randomness (CPU); the same seed gives the same distortions.

    Returns:
        A new `(B, C, H, W)` tensor; images that drew no component are copied exactly.
    """
    if not config.enabled:
        return batch
    if batch.ndim != 4 or not batch.is_floating_point():
        raise DataError(
            f"random_affine needs a float (B, C, H, W) batch scaled to [0, 1], got {batch.dtype} "
            f"{tuple(batch.shape)} (convert uint8 images with .float() / 255 first)"
        )
    size, _, height, width = batch.shape
    matrices, shifts, moved = sample_transforms(size, height, width, config, generator)
    elastic = elastic_displacements(size, height, width, config, generator)
    if elastic is not None:
        moved = moved | elastic[1]
    output = batch.clone()
    if not bool(moved.any()):
        return output
    theta = sampling_grid_parameters(matrices[moved], shifts[moved], height, width)
    on_device = moved.to(batch.device)
    fields = None if elastic is None else elastic[0][moved]
    output[on_device] = warp(batch[on_device], theta, config.fill, fields)
    return output


def elastic_displacements(
    batch_size: int, height: int, width: int, config: AugmentationConfig, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each image's smooth random displacement field, in `grid_sample`'s normalised units, as `(B, H, W, 2)`
    (x, y), zero for images that did not draw it, and `(B,)` bool, which images drew it. None when the option
    is off, and then no random numbers are drawn, so recipes without it keep their exact random streams."""
    if config.elastic_pixels == 0:
        return None
    points = config.elastic_grid
    chosen = torch.rand(batch_size, generator=generator, dtype=torch.float64) < config.probability
    control = torch.rand(batch_size, 2, points, points, generator=generator, dtype=torch.float64) * 2 - 1
    control[~chosen] = 0.0
    fields = F.interpolate(control, size=(height, width), mode="bicubic", align_corners=True).clamp_(-1.0, 1.0)
    # Pixels at `reference_size` -> pixels at this size (x size / reference) -> normalised units (x 2 / size):
    # the size cancels, so x and y share one scale.
    fields = fields * (config.elastic_pixels / config.reference_size * 2.0)
    return fields.permute(0, 2, 3, 1).float(), chosen


def sampling_grid_parameters(matrices: torch.Tensor, shifts: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """`F.affine_grid`'s `(B, 2, 3)` parameters for forward transforms given in pixels about the image centre.

    affine_grid maps each *output* location to where it samples the input, i.e. the inverse transform, in
    normalised coordinates (x, y in [-1, 1] across the image, pixel centres at (2i + 1) / size - 1).
    """
    inverse = torch.linalg.inv(matrices)
    to_normalised = torch.diag(torch.tensor([2.0 / width, 2.0 / height], dtype=torch.float64))
    linear = to_normalised @ inverse @ torch.linalg.inv(to_normalised)
    offset = -(linear @ (to_normalised @ shifts.unsqueeze(-1)))
    return torch.cat([linear, offset], dim=-1)


def warp(
    batch: torch.Tensor, theta: torch.Tensor, fill: float, displacements: torch.Tensor | None = None
) -> torch.Tensor:
    """Resamples `batch` (B, C, H, W) through `(B, 2, 3)` or one shared `(2, 3)` grid parameters, each sampling
    location moved on by `displacements` (B, H, W, 2, normalised units) if given; the area the transform
    uncovers takes the value `fill`."""
    if theta.ndim == 2:
        theta = theta.expand(batch.shape[0], 2, 3)
    grid = F.affine_grid(theta.to(device=batch.device, dtype=batch.dtype), list(batch.shape), align_corners=False)
    if displacements is not None:
        grid = grid + displacements.to(device=batch.device, dtype=batch.dtype)
    shifted = batch - fill if fill != 0.0 else batch
    warped = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped + fill if fill != 0.0 else warped


def fixed_views(count: int, height: int, width: int, config: AugmentationConfig, seed: int) -> torch.Tensor:
    """`count` affine transforms drawn once from `config`'s distribution (one seed, always the same ones), as
    `(count, 2, 3)` grid parameters for `warp`: test-time views that every image is seen through alike. As in
    training, each component is applied with the config's probability, so a view may leave images unchanged."""
    generator = torch.Generator().manual_seed(seed)
    matrices, shifts, _ = sample_transforms(count, height, width, config, generator)
    return sampling_grid_parameters(matrices, shifts, height, width).float()


def random_stroke_thickening(
    batch: torch.Tensor, config: AugmentationConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Thickens the strokes of some images of `batch`, each by its own 1..`thicken_strokes` pixels.

    One writer signs with different pens, so stroke width alone should not tell two signatures apart. Ink is
    the bright side when `config.fill` is below 0.5 (inverted images), the dark side otherwise. Draws its random
    numbers only when the option is on, so recipes without it keep their exact random streams.

    Returns:
        `batch` itself when the option is off, otherwise a new tensor.
    """
    if not config.enabled or config.thicken_strokes == 0:
        return batch
    if batch.ndim != 4 or not batch.is_floating_point():
        raise DataError(
            f"random_stroke_thickening needs a float (B, C, H, W) batch, got {batch.dtype} {tuple(batch.shape)}"
        )
    size = batch.shape[0]
    draws = torch.rand(size, 2, generator=generator, dtype=torch.float64)
    chosen = draws[:, 0] < config.probability
    widths = torch.where(chosen, 1 + (draws[:, 1] * config.thicken_strokes).long(), 0).to(batch.device)
    ink_is_dark = config.fill >= 0.5
    output = batch.clone()
    for width in range(1, config.thicken_strokes + 1):
        selected = widths == width
        if not bool(selected.any()):
            continue
        images = batch[selected]
        kernel = 2 * width + 1
        if ink_is_dark:
            thickened = -F.max_pool2d(-images, kernel, stride=1, padding=width)
        else:
            thickened = F.max_pool2d(images, kernel, stride=1, padding=width)
        output[selected] = thickened
    return output


# Random erasing's aspect ratios (height / width) are drawn log-uniformly between these, as in Zhong et al.
ERASE_ASPECT_RANGE = (0.3, 1 / 0.3)


def erased_rectangles(
    batch_size: int, height: int, width: int, config: AugmentationConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Each image's rectangle to erase as `(B, 4)` integer `(top, left, rectangle height, rectangle width)`, with
    a zero height and width for images that drew none.

    Five uniform numbers per image, in this order: erase or not, area share, log aspect ratio, vertical and
    horizontal position of the rectangle within the room the image leaves it.
    """
    draws = torch.rand(batch_size, 5, generator=generator, dtype=torch.float64)
    low, high = config.erase_area
    area = (low + draws[:, 1] * (high - low)) * height * width
    log_low, log_high = math.log(ERASE_ASPECT_RANGE[0]), math.log(ERASE_ASPECT_RANGE[1])
    aspect = torch.exp(log_low + draws[:, 2] * (log_high - log_low))
    sides_height = torch.sqrt(area * aspect).round().clamp(1, height)
    sides_width = torch.sqrt(area / aspect).round().clamp(1, width)
    top = (draws[:, 3] * (height - sides_height + 1)).floor()
    left = (draws[:, 4] * (width - sides_width + 1)).floor()
    chosen = draws[:, 0] < config.erase_probability
    rectangles = torch.stack([top, left, sides_height, sides_width], dim=1).long()
    rectangles[~chosen, 2:] = 0
    return rectangles


def random_erasing(
    batch: torch.Tensor, config: AugmentationConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Erases one random rectangle of some images of `batch` to `config.fill` (`erase_probability` each).

    Draws its random numbers only when the option is on, so recipes without it keep their exact random streams.

    Returns:
        `batch` itself when the option is off, otherwise a new tensor.
    """
    if not config.enabled or config.erase_probability == 0:
        return batch
    if batch.ndim != 4 or not batch.is_floating_point():
        raise DataError(f"random_erasing needs a float (B, C, H, W) batch, got {batch.dtype} {tuple(batch.shape)}")
    size, _, height, width = batch.shape
    rectangles = erased_rectangles(size, height, width, config, generator).to(batch.device)
    top, left, sides_height, sides_width = (rectangles[:, index, None] for index in range(4))
    rows = torch.arange(height, device=batch.device)[None, :]
    columns = torch.arange(width, device=batch.device)[None, :]
    inside_rows = (rows >= top) & (rows < top + sides_height)  # (B, H)
    inside_columns = (columns >= left) & (columns < left + sides_width)  # (B, W)
    mask = (inside_rows[:, :, None] & inside_columns[:, None, :])[:, None]  # (B, 1, H, W)
    return batch.masked_fill(mask, config.fill)


def augment_images(
    batch: torch.Tensor, config: AugmentationConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """All of a training batch's distortions: stroke thickening (if on), the random affine transform, then
    random erasing (if on)."""
    thickened = random_stroke_thickening(batch, config, generator)
    return random_erasing(random_affine(thickened, config, generator), config, generator)
