"""`siamkit info`, which describes a bundle, and `siamkit ensemble` and `siamkit test-time-views`, which write
a new bundle from trained ones.

Thin adapters over `siamkit.model_card.describe_bundle`, `siamkit.ensemble.combine_bundles` and
`siamkit.test_time_views.add_test_time_views`; user errors raise `SiamkitError` subclasses, which the siamkit
CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def info_command(
    model: Annotated[Path, typer.Option(help="Model bundle folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the card as JSON.")] = False,
) -> None:
    """Describe a bundle: network, input, decision threshold and how it was chosen, training."""
    from siamkit.model_card import describe_bundle

    card = describe_bundle(model)
    typer.echo(json.dumps(card, indent=2, default=float) if as_json else "\n".join(card_lines(card)))


def card_lines(card: dict[str, Any]) -> list[str]:
    """The model card as aligned lines for a terminal."""
    encoder = card["encoder"]
    layers = [encoder["name"]]
    while "inner" in encoder or "members" in encoder:
        if "inner" in encoder:
            layers[-1] += f" ({encoder['views']} views)"
            encoder = encoder["inner"]
        else:
            layers[-1] += f" of {len(encoder['members'])}"
            encoder = encoder["members"][0]
        layers.append(encoder["name"])
    shape = "x".join(str(side) for side in card["encoder"]["input_shape"])
    comparison = card["comparison"]
    direction = "larger" if comparison["higher_is_more_similar"] else "smaller"
    lines = [
        f"bundle     {card['path']} (fingerprint {card['fingerprint'][:12]}, {card['size_bytes'] / 1e6:.1f} MB)",
        f"encoder    {' > '.join(layers)}: input {shape}, {card['encoder']['embedding_dim']}-d embeddings, "
        f"{card['parameters']:,} parameters",
        f"comparison {comparison['name']} ({direction} = more alike"
        + (", L2-normalised embeddings)" if comparison["normalize_embeddings"] else ")"),
    ]
    decision = card["decision"]
    if decision["threshold"] is None:
        lines.append("decision   no threshold yet: siamkit calibrate --model BUNDLE --data DIR --eer")
    else:
        relation = ">=" if comparison["higher_is_more_similar"] else "<="
        probability = f"; probabilities by a {decision['probability_map']} map" if decision["probability_map"] else ""
        lines.append(f"decision   same when score {relation} {decision['threshold']:.6g}{probability}")
        lines.append(f"           chosen by {provenance_text(decision['provenance'])}")
    training = card["training"]
    made = []
    if training["ensemble_members"]:
        made.append(f"an ensemble of {training['ensemble_members']} trained bundles (siamkit ensemble)")
    if training["test_time_views"]:
        made.append(f"read through {training['test_time_views']} test-time views (siamkit test-time-views)")
    if made:
        lines.append(f"made as    {', '.join(made)}")
    if training["pretrained"]:
        pretrained = training["pretrained"]
        lines.append(f"training   pretrained: {pretrained.get('source')}; licence: {pretrained.get('license')}")
    if training["steps"] is not None:
        seconds = f", {training['seconds']:.0f} s" if training["seconds"] is not None else ""
        lines.append(
            f"training   {training['steps']} steps{seconds}, {training['loss']} loss"
            + (f", on {training['data']}" if training["data"] else "")
        )
    return lines


def provenance_text(provenance: dict[str, Any] | None) -> str:
    """One sentence on where a threshold came from, or that nobody recorded it."""
    if not provenance:
        return "(not recorded: calibrated before siamkit kept a record; siamkit calibrate writes one)"
    text = str(provenance.get("source"))
    method = provenance.get("method")
    if method == "target_far":
        text += f", at a target FAR of {provenance.get('target_far')}"
    elif method == "eer":
        text += ", at the equal error rate"
    data = provenance.get("data")
    if data:
        text += f", on {', '.join(data) if isinstance(data, list) else data}"
    details = [f"{provenance['protocol']} protocol"] if provenance.get("protocol") else []
    if provenance.get("n_same") is not None:
        details.append(f"{provenance['n_same']} same / {provenance['n_different']} different pairs")
    if details:
        text += f" ({', '.join(details)})"
    rates = [
        f"{key.upper()} {100 * provenance[key]:.2f}%"
        for key in ("far", "frr", "eer")
        if provenance.get(key) is not None
    ]
    if rates:
        text += ": " + ", ".join(rates)
    return text + (f"; {provenance['created']}" if provenance.get("created") else "")


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
    """Embed each image through fixed affine distortions of it (from its training augmentation); calibrate after."""
    from siamkit.test_time_views import add_test_time_views

    fingerprint = add_test_time_views(model, output, views, seed=seed)
    typer.echo(
        f"wrote {output}: {views} views per image, fingerprint {fingerprint[:12]}; no threshold yet, "
        f"set one with: siamkit calibrate --model {output} --data DIR --eer"
    )
