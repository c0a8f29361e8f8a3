"""`siamkit gallery ...`: thin command-line adapters over `siamkit.gallery.Gallery`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from siamkit.errors import ConfigError

gallery_app = typer.Typer(
    help="Enrol identities once, then verify claims (1:1) and identify (1:N) against them.", no_args_is_help=True
)

ModelOption = Annotated[Path, typer.Option("--model", help="Model bundle folder the gallery was built with.")]
GalleryOption = Annotated[Path, typer.Option("--gallery", help="Gallery file (SQLite).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _open(model: Path, gallery: Path) -> Any:
    import siamkit
    from siamkit.gallery import Gallery

    return Gallery.open(gallery, siamkit.load(model))


def _metadata(pairs: list[str]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise ConfigError(f"--meta {pair!r}: write metadata as key=value")
        metadata[key] = value
    return metadata


def _echo(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, default=float) if as_json else text)


@gallery_app.command(epilog="Example: siamkit gallery create --model models/faces --gallery staff.gallery")
def create(model: ModelOption, gallery: GalleryOption) -> None:
    """Create an empty gallery for a model."""
    import siamkit
    from siamkit.gallery import Gallery

    Gallery.create(gallery, siamkit.load(model)).close()
    typer.echo(f"created {gallery}")


@gallery_app.command(
    epilog="Example: siamkit gallery enrol --model models/faces --gallery staff.gallery --id alice a1.png a2.png"
)
def enrol(
    images: Annotated[list[Path], typer.Argument(help="Reference images of the identity.")],
    model: ModelOption,
    gallery: GalleryOption,
    identity: Annotated[str, typer.Option("--id", help="Identity name.")],
    meta: Annotated[list[str] | None, typer.Option(help="Metadata as key=value (repeatable).")] = None,
) -> None:
    """Enrol images as references of an identity (new or existing)."""
    with _open(model, gallery) as opened:
        opened.enrol(identity, list(images), metadata=_metadata(meta or []))
        typer.echo(f"enrolled {len(images)} reference(s) for {identity}; it has {opened.reference_count(identity)}")


@gallery_app.command(epilog="Example: siamkit gallery remove --model models/faces --gallery staff.gallery --id alice")
def remove(
    model: ModelOption, gallery: GalleryOption, identity: Annotated[str, typer.Option("--id", help="Identity.")]
) -> None:
    """Remove an identity and all its references."""
    with _open(model, gallery) as opened:
        opened.remove(identity)
    typer.echo(f"removed {identity}")


@gallery_app.command(name="list", epilog="Example: siamkit gallery list --model models/faces --gallery staff.gallery")
def list_identities(model: ModelOption, gallery: GalleryOption, as_json: JsonOption = False) -> None:
    """List the enrolled identities with their reference counts and metadata."""
    with _open(model, gallery) as opened:
        rows = [
            {"identity": name, "references": opened.reference_count(name), "metadata": opened.metadata(name)}
            for name in opened.identities()
        ]
    text = "\n".join(f"{row['identity']}\t{row['references']}\t{row['metadata']}" for row in rows) or "(empty)"
    _echo(rows, as_json, text)


@gallery_app.command(epilog="Example: siamkit gallery identify --model models/faces --gallery staff.gallery q.png")
def identify(
    image: Annotated[Path, typer.Argument(help="The image to identify.")],
    model: ModelOption,
    gallery: GalleryOption,
    top_k: Annotated[int, typer.Option(help="How many candidates to list.")] = 5,
    threshold: Annotated[float | None, typer.Option(help="Override the bundle's threshold.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Who is this, if anyone? Top candidates and an open-set decision."""
    with _open(model, gallery) as opened:
        result = opened.identify(image, top_k=top_k, threshold=threshold)
    lines = [f"{result.identity if result.known else 'UNKNOWN'} (threshold {result.threshold:.6g})"]
    lines += [f"  {name}\t{score:.6g}" for name, score in result.candidates]
    if result.warning:
        typer.echo(f"warning: {result.warning}", err=True)
    _echo(result.to_dict(), as_json, "\n".join(lines))


@gallery_app.command(
    name="verify-claim",
    epilog="Example: siamkit gallery verify-claim --model models/faces --gallery staff.gallery --id alice q.png",
)
def verify_claim(
    image: Annotated[Path, typer.Argument(help="The image of the claimant.")],
    model: ModelOption,
    gallery: GalleryOption,
    identity: Annotated[str, typer.Option("--id", help="The claimed identity.")],
    threshold: Annotated[float | None, typer.Option(help="Override the bundle's threshold.")] = None,
    scoring: Annotated[
        str | None,
        typer.Option(
            help="How the scores against the identity's references combine: mean (keeps the bundle's pair "
            "threshold valid), best or centroid (both need a threshold calibrated for claims: calibrate-claims). "
            "Default: the gallery's claim policy (mean unless calibrate-claims set another)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Is this the identity it claims to be?"""
    from siamkit.gallery.claims import check_claim_scoring

    if scoring is not None:
        check_claim_scoring(scoring)  # before loading anything
    with _open(model, gallery) as opened:
        result = opened.verify_claim(identity, image, threshold=threshold, scoring=scoring)
    verdict = "ACCEPTED" if result.accepted else "REJECTED"
    _echo(
        result.to_dict(),
        as_json,
        f"{verdict}: score {result.score:.6g} (threshold {result.threshold:.6g}; {result.scoring} of "
        f"{result.references} reference{'s' if result.references != 1 else ''})",
    )


@gallery_app.command(
    name="calibrate-claims",
    epilog="Example: siamkit gallery calibrate-claims --model models/signatures --gallery bank.gallery "
    "--data held_out_writers/ --protocol signatures --references 5 --scoring centroid --eer",
)
def calibrate_claims(
    model: ModelOption,
    gallery: GalleryOption,
    data: Annotated[str, typer.Option(help="Image folder or zip of held-out identities (not enrolled ones).")],
    references: Annotated[int, typer.Option(help="References per identity the gallery's identities have.")],
    scoring: Annotated[
        str, typer.Option(help="Claim scoring to calibrate and make the default: mean, best or centroid.")
    ],
    target_far: Annotated[
        float | None, typer.Option(help="Pick the threshold reaching this false accept rate.")
    ] = None,
    eer: Annotated[bool, typer.Option("--eer", help="Pick the equal-error-rate threshold instead.")] = False,
    protocol: Annotated[
        str, typer.Option(help="classes (impostors: other classes) or signatures (impostors: the writer's forgeries).")
    ] = "classes",
    as_json: JsonOption = False,
) -> None:
    """Choose a claim threshold on simulated claims of held-out data; store it, with the scoring, in the gallery."""
    from siamkit.evaluation.claims import calibrate_claims as calibrate
    from siamkit.evaluation.dataset_evaluation import embed_folder
    from siamkit.gallery.claims import ClaimPolicy, check_claim_scoring

    check_claim_scoring(scoring)
    if (target_far is None) == (not eer):
        raise ConfigError("give exactly one of --target-far F or --eer")
    with _open(model, gallery) as opened:
        dataset, embeddings = embed_folder(opened.model, data)
        result = calibrate(
            opened.model, embeddings, dataset.labels.numpy(), dataset.paths, protocol, references, scoring, target_far
        )
        opened.set_claim_policy(ClaimPolicy(scoring, result["threshold"]))
    _echo(
        result,
        as_json,
        f"claims scored by {scoring} over {references} references: threshold {result['threshold']:.6g} "
        f"(FAR {result['achieved_far']:.4f}, FRR {result['achieved_frr']:.4f} on {result['n_genuine']} genuine / "
        f"{result['n_impostor']} impostor claims) stored in {gallery}",
    )


@gallery_app.command(
    name="calibrate-identification",
    epilog="Example: siamkit gallery calibrate-identification --model models/faces --gallery staff.gallery "
    "--data visitors/ --target-fpir 0.01",
)
def calibrate_identification(
    model: ModelOption,
    gallery: GalleryOption,
    data: Annotated[str, typer.Option(help="Folder or zip with one folder per person who is NOT enrolled.")],
    target_fpir: Annotated[float, typer.Option(help="Share of non-enrolled people identify may name.")] = 0.01,
    as_json: JsonOption = False,
) -> None:
    """Fit identify's open-set threshold on this gallery and store it; calibrate again when the gallery grows."""
    from siamkit.data.image_folder import load_image_folder

    with _open(model, gallery) as opened:
        strangers = load_image_folder(data, opened.model.preprocessing, min_images_per_class=1)
        result = opened.calibrate_identification(strangers.images, target_fpir=target_fpir)
    _echo(
        result,
        as_json,
        f"identification threshold {result['threshold']:.6g} (FPIR {result['fpir']:.4f} on {result['n_strangers']} "
        f"non-enrolled images, gallery of {result['references']} references) stored in {gallery}",
    )


@gallery_app.command(
    name="export", epilog="Example: siamkit gallery export --model models/faces --gallery staff.gallery staff.npz"
)
def export_gallery(
    output: Annotated[Path, typer.Argument(help="The .npz file to write.")], model: ModelOption, gallery: GalleryOption
) -> None:
    """Export identities, metadata and embeddings to a portable .npz file."""
    with _open(model, gallery) as opened:
        opened.export(output)
    typer.echo(f"exported to {output}")


@gallery_app.command(
    name="import", epilog="Example: siamkit gallery import --model models/faces --gallery staff.gallery staff.npz"
)
def import_gallery(
    source: Annotated[Path, typer.Argument(help="A .npz file written by export.")],
    model: ModelOption,
    gallery: GalleryOption,
) -> None:
    """Import an export made with the same model."""
    with _open(model, gallery) as opened:
        count = opened.import_from(source)
    typer.echo(f"imported {count} reference(s)")
