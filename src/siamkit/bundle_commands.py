"""`siamkit ensemble` and `siamkit test-time-views`: commands that write a new bundle from trained ones.

Thin adapters over `siamkit.ensemble.combine_bundles` and `siamkit.test_time_views.add_test_time_views`;
user errors raise `SiamkitError` subclasses, which the siamkit CLI prints as one line with exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def ensemble_command(
    model: Annotated[list[Path], typer.Option(help="A member bundle folder; repeat it for each (two or more).")],
    output: Annotated[Path, typer.Option(help="The ensemble bundle folder to write (atomically).")],
    half_precision: Annotated[bool, typer.Option(help="Store the weights as float16, half the size.")] = False,
) -> None:
    """Combine trained bundles into one that averages their comparisons; calibrate it before verifying."""
    from siamkit.ensemble import combine_bundles

    fingerprint = combine_bundles(model, output, half_precision=half_precision)
    typer.echo(
        f"wrote {output}: {len(model)} members, fingerprint {fingerprint[:12]}; no threshold yet, "
        f"set one with: siamkit calibrate --model {output} --data DIR --eer"
    )


def test_time_views_command(
    model: Annotated[Path, typer.Option(help="A trained bundle folder (an ensemble bundle too).")],
    output: Annotated[Path, typer.Option(help="The bundle folder to write (atomically).")],
    views: Annotated[int, typer.Option(help="Views per image, the image itself included (cost: this many x).")] = 8,
    seed: Annotated[int, typer.Option(help="Draws the views' distortions.")] = 0,
) -> None:
    """Embed each image through fixed distortions of it (its training augmentation); calibrate it after."""
    from siamkit.test_time_views import add_test_time_views

    fingerprint = add_test_time_views(model, output, views, seed=seed)
    typer.echo(
        f"wrote {output}: {views} views per image, fingerprint {fingerprint[:12]}; no threshold yet, "
        f"set one with: siamkit calibrate --model {output} --data DIR --eer"
    )
