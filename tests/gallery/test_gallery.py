"""Galleries: enrolment, open-set identification and claims checked against brute force, persistence, safety."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError, DataError
from siamkit.gallery import SCHEMA_VERSION, Gallery, GalleryError, SearchConfig
from siamkit.gallery.claims import ClaimPolicy
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork

from .flattening_model import flattening_model

DIM = 16


def identity_model(comparison: str = "euclidean", threshold: float | None = 1.0, scale: float = 1.0) -> SiameseModel:
    """A model whose encoder flattens 4x4 images (times `scale`), so every score can be computed by hand."""
    return flattening_model(4, 4, comparison, threshold, scale)


def square(value: int) -> np.ndarray:
    return np.full((4, 4), value, dtype=np.uint8)


def brute_force(model: SiameseModel, query: np.ndarray, references: dict[str, np.ndarray]) -> list[tuple[str, float]]:
    """Every identity's best score over its references by direct comparison, best first."""
    best = {}
    for name, vectors in references.items():
        repeated_query = torch.from_numpy(np.repeat(query[None], len(vectors), axis=0))
        scores = model.score_embeddings(repeated_query, torch.from_numpy(vectors))
        best[name] = float(scores.max() if model.higher_is_more_similar else scores.min())
    return sorted(best.items(), key=lambda item: -item[1] if model.higher_is_more_similar else item[1])


def random_references(seed: int, identities: int = 12) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(seed)
    return {
        f"person-{index}": generator.normal(size=(int(generator.integers(1, 4)), DIM)).astype(np.float32)
        for index in range(identities)
    }


@pytest.mark.parametrize("comparison", ["euclidean", "squared_euclidean", "cosine", "manhattan", "learned_head"])
def test_identify_matches_brute_force(tmp_path: Path, comparison: str) -> None:
    model = identity_model(comparison)
    references = random_references(seed=1)
    with Gallery.create(tmp_path / "g.sqlite", model) as gallery:
        assert gallery.index.uses_faiss == (comparison in ("euclidean", "squared_euclidean", "cosine"))
        for name, vectors in references.items():
            assert gallery.enrol(name, embeddings=vectors) == len(vectors)
        queries = np.random.default_rng(2).normal(size=(5, DIM)).astype(np.float32)
        for query in queries:
            expected = brute_force(model, query, references)
            for top_k in (1, 3, 12, 50):
                accept_all = -1e9 if model.higher_is_more_similar else 1e9
                result = gallery.identify(embedding=query, top_k=top_k, threshold=accept_all)
                assert [name for name, _ in result.candidates] == [name for name, _ in expected[:top_k]]
                assert [score for _, score in result.candidates] == pytest.approx(
                    [score for _, score in expected[:top_k]], rel=1e-4, abs=1e-4
                )
                assert result.identity == expected[0][0]


def test_scores_are_in_the_models_units_from_images(tmp_path: Path) -> None:
    model = identity_model(threshold=1.0)
    with Gallery.create(tmp_path / "g.sqlite", model) as gallery:
        gallery.enrol("dark", [square(0), square(10)])
        gallery.enrol("light", square(255))
        result = gallery.identify(square(51), top_k=2)  # 41/255 per pixel from square(10), times 4 pixels' sqrt(16)
        assert result.candidates[0][0] == "dark"
        assert result.score == pytest.approx(4 * 41 / 255, abs=1e-5)
        assert result.candidates[1] == ("light", pytest.approx(4 * 204 / 255, abs=1e-5))
        assert result.known and result.identity == "dark" and result.threshold == 1.0


def test_open_set_unknown_when_the_best_score_fails_the_threshold(tmp_path: Path) -> None:
    model = identity_model(threshold=0.5)
    with Gallery.create(tmp_path / "g.sqlite", model) as gallery:
        gallery.enrol("dark", square(0))
        far = gallery.identify(square(255))  # distance 4
        assert not far.known and far.identity is None and far.score == pytest.approx(4.0, abs=1e-5)
        assert far.candidates == [("dark", pytest.approx(4.0, abs=1e-5))]
        assert gallery.identify(square(255), threshold=4.5).identity == "dark"
        assert gallery.identify(square(20)).identity == "dark"  # distance 80/255 < 0.5


def test_open_set_with_similarity_scores(tmp_path: Path) -> None:
    model = identity_model("learned_head")  # scores are same-probabilities: higher is more similar
    references = random_references(seed=3, identities=4)
    query = np.random.default_rng(4).normal(size=DIM).astype(np.float32)
    expected = brute_force(model, query, references)
    best_score, runner_up = expected[0][1], expected[1][1]
    assert best_score > runner_up
    with Gallery.create(tmp_path / "g.sqlite", model) as gallery:
        for name, vectors in references.items():
            gallery.enrol(name, embeddings=vectors)
        accepted = gallery.identify(embedding=query, threshold=(best_score + runner_up) / 2)
        assert accepted.identity == expected[0][0] and accepted.score == pytest.approx(best_score, abs=1e-5)
        assert gallery.identify(embedding=query, threshold=best_score + 1e-3).identity is None
        claim = gallery.verify_claim(
            expected[1][0], embedding=query, threshold=(best_score + runner_up) / 2, scoring="best"
        )
        assert not claim.accepted and claim.score == pytest.approx(runner_up, abs=1e-5)


def test_verify_claim_combines_the_references_as_asked(tmp_path: Path) -> None:
    model = identity_model(threshold=1.0)
    with Gallery.create(tmp_path / "g.sqlite", model) as gallery:
        gallery.enrol("alice", [square(0), square(200)])
        gallery.enrol("bob", square(100))
        # Flattened 4x4 images: the distance between squares of values a and b is 4 * |a - b| / 255.
        best = gallery.verify_claim("alice", square(190), scoring="best")  # nearest: square(200)
        assert best.accepted and best.score == pytest.approx(4 * 10 / 255, abs=1e-5)
        mean = gallery.verify_claim("alice", square(190))  # the default: mean of 4*190/255 and 4*10/255
        assert mean.scoring == "mean" and mean.references == 2
        assert not mean.accepted and mean.score == pytest.approx(4 * 100 / 255, abs=1e-5)
        centroid = gallery.verify_claim("alice", square(100), scoring="centroid")  # centroid: square(100)
        assert centroid.accepted and centroid.score == pytest.approx(0.0, abs=1e-5)
        assert not gallery.verify_claim("alice", square(100), scoring="best").accepted  # 4*100/255 from both
        assert centroid.to_dict() == {
            "accepted": True, "score": centroid.score, "threshold": 1.0, "scoring": "centroid", "references": 2
        }  # fmt: skip
        for scoring in ("mean", "best", "centroid"):  # one reference: every scoring is the pair score
            rejected = gallery.verify_claim("bob", square(210), scoring=scoring)
            assert not rejected.accepted and rejected.score == pytest.approx(4 * 110 / 255, abs=1e-5)
        with pytest.raises(ConfigError, match="claim scoring must be one of"):
            gallery.verify_claim("alice", square(210), scoring="maximum")
        with pytest.raises(GalleryError, match="unknown identity 'carol'"):
            gallery.verify_claim("carol", square(0))


def test_the_gallery_s_claim_policy_sets_the_default_scoring_and_its_threshold(tmp_path: Path) -> None:
    model = identity_model(threshold=1.0)
    path = tmp_path / "g.sqlite"
    with Gallery.create(path, model, claims=ClaimPolicy("centroid", 0.5)) as gallery:
        gallery.enrol("alice", [square(0), square(200)])
        claim = gallery.verify_claim("alice", square(110))  # the centroid, square(100), is 4*10/255 = 0.16 away
        assert (claim.scoring, claim.threshold, claim.accepted) == ("centroid", 0.5, True)
        assert not gallery.verify_claim("alice", square(140)).accepted  # 0.63 > 0.5, though under the bundle's 1.0
        # Another scoring falls back to the bundle's threshold: the stored one was calibrated for the centroid.
        assert gallery.verify_claim("alice", square(110), scoring="best").threshold == 1.0
        assert gallery.verify_claim("alice", square(110), threshold=0.1).threshold == 0.1
    with Gallery.open(path, model) as reopened, Gallery.open(path, model) as other:
        assert reopened.settings.claims == ClaimPolicy("centroid", 0.5)
        other.set_claim_policy(ClaimPolicy("best", 0.2))  # another connection changes the policy
        claim = reopened.verify_claim("alice", square(210))  # 4*10/255 = 0.157 from square(200)
        assert (claim.scoring, claim.threshold, claim.accepted) == ("best", 0.2, True)


def test_a_malformed_claim_policy_is_refused_when_the_gallery_opens(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    Gallery.create(path, identity_model()).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE gallery_settings SET value = 'nearest' WHERE key = 'claim_scoring'")
    connection.close()
    with pytest.raises(GalleryError, match=r"gallery settings are incomplete or malformed.*claim scoring"):
        Gallery.open(path, identity_model())


def test_remove_list_metadata_and_reopen_persist(tmp_path: Path) -> None:
    model = identity_model()
    path = tmp_path / "g.sqlite"
    with Gallery.create(path, model) as gallery:
        gallery.enrol("alice", square(0), metadata={"team": "ops", "badge": "17"})
        gallery.enrol("alice", square(5), metadata={"badge": "18"})
        gallery.enrol("bob", square(100), metadata={"team": "dev"})
        gallery.enrol("carol", square(255))
        gallery.remove("carol")
        assert gallery.identities() == ["alice", "bob"] and len(gallery) == 2 and "carol" not in gallery
        with pytest.raises(GalleryError, match="unknown identity 'carol'"):
            gallery.remove("carol")
        with pytest.raises(GalleryError, match="unknown identity"):
            gallery.metadata("carol")
        assert gallery.identify(square(255)).candidates[0][0] == "bob"
    with Gallery.open(path, identity_model()) as reopened:
        assert reopened.identities() == ["alice", "bob"]
        assert reopened.metadata("alice") == {"team": "ops", "badge": "18"}
        assert reopened.metadata("bob") == {"team": "dev"}
        assert reopened.reference_count("alice") == 2 and reopened.reference_count() == 3
        assert len(reopened.index) == 3
        assert reopened.identify(square(4), top_k=5).candidates[0] == ("alice", pytest.approx(4 / 255, abs=1e-5))


def test_new_galleries_use_large_pages_in_wal_mode(tmp_path: Path) -> None:
    from siamkit.gallery.storage import PAGE_SIZE_BYTES

    path = tmp_path / "g.sqlite"
    with Gallery.create(path, identity_model()) as gallery:
        gallery.enrol("alice", square(0))
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE_BYTES == 16384
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Gallery.open(path, identity_model()) as reopened:
        assert reopened.identities() == ["alice"]


@pytest.mark.parametrize("mode", ["exact", "hnsw"])
def test_references_removed_last_do_not_hide_later_enrolments(tmp_path: Path, mode: str) -> None:
    # HNSW filters removed ids out of its results until a rebuild: a reused id would hide the new reference.
    with Gallery.create(tmp_path / "g.sqlite", identity_model(), search=SearchConfig(mode=mode)) as gallery:
        gallery.enrol("alice", square(0))
        gallery.enrol("bob", [square(200), square(210)])
        gallery.remove("bob")
        gallery.enrol("carol", square(200))
        assert gallery.storage.reference_ids("carol") == [4]
        assert gallery.identify(square(200), top_k=2).candidates == [
            ("carol", pytest.approx(0.0, abs=1e-5)),
            ("alice", pytest.approx(3.137, abs=1e-3)),
        ]
        assert len(gallery.index) == gallery.reference_count() == 2


def test_another_writer_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    with Gallery.create(path, identity_model()) as first, Gallery.open(path, identity_model()) as second:
        first.enrol("alice", square(0))
        assert second.identify(square(0)).identity == "alice"
        first.remove("alice")
        assert second.identify(square(0)).candidates == []


def test_fingerprint_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    original = identity_model()
    Gallery.create(path, original).close()
    other = identity_model(scale=2.0)
    with pytest.raises(GalleryError, match="fingerprint") as error:
        Gallery.open(path, other)
    assert original.fingerprint in str(error.value) and other.fingerprint in str(error.value)
    assert isinstance(error.value, DataError)


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    Gallery.create(path, identity_model()).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE gallery_settings SET value = '99' WHERE key = 'schema_version'")
    connection.close()
    with pytest.raises(GalleryError, match=f"schema version 99 .*version {SCHEMA_VERSION}"):
        Gallery.open(path, identity_model())


def test_corrupt_missing_and_foreign_files_are_refused(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(GalleryError, match="not a siamkit gallery"):
        Gallery.open(corrupt, identity_model())
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE something_else (x INTEGER)")
    connection.close()
    with pytest.raises(GalleryError, match="not a siamkit gallery"):
        Gallery.open(foreign, identity_model())
    with pytest.raises(GalleryError, match="no gallery file"):
        Gallery.open(tmp_path / "absent.sqlite", identity_model())
    assert not (tmp_path / "absent.sqlite").exists()
    with pytest.raises(GalleryError, match="already exists"):
        Gallery.create(foreign, identity_model())


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g.sqlite", identity_model(threshold=None)) as gallery:
        with pytest.raises(GalleryError, match=r"shape \(N, 16\)"):
            gallery.enrol("alice", embeddings=np.zeros((2, 3)))
        with pytest.raises(GalleryError, match="NaN"):
            gallery.enrol("alice", embeddings=np.full(DIM, np.nan))
        with pytest.raises(GalleryError, match="either"):
            gallery.enrol("alice")
        with pytest.raises(GalleryError, match="non-empty"):
            gallery.enrol("", square(0))
        with pytest.raises(GalleryError, match="strings"):
            gallery.enrol("alice", square(0), metadata={"age": 3})  # type: ignore[dict-item]
        assert gallery.identities() == []
        gallery.enrol("alice", square(0))
        with pytest.raises(ConfigError, match="threshold"):
            gallery.identify(square(0))
        with pytest.raises(GalleryError, match="exactly one query"):
            gallery.identify([square(0), square(1)], threshold=1.0)


CHILD = """
import sys
import numpy as np
import siamkit
from siamkit.gallery import Gallery

gallery = Gallery.open(sys.argv[2], siamkit.load(sys.argv[1]))
generator = np.random.default_rng(0)
for index in range(100000):
    name = f"person-{index}"
    gallery.enrol(name, embeddings=generator.normal(size=(3, 16)), metadata={"index": str(index)})
    print(name, flush=True)
"""


def test_killed_writer_loses_no_acknowledged_identity(tmp_path: Path) -> None:
    model = identity_model()
    model.save(tmp_path / "model")
    path = tmp_path / "g.sqlite"
    Gallery.create(path, model).close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "model"), str(path)], stdout=subprocess.PIPE, text=True
    )
    acknowledged: list[str] = []
    assert child.stdout is not None
    try:
        while len(acknowledged) < 40:
            line = child.stdout.readline()
            assert line, f"the child stopped early (exit code {child.poll()})"
            acknowledged.append(line.strip())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    with Gallery.open(path, identity_model()) as gallery:
        present = set(gallery.identities())
        assert set(acknowledged) <= present
        assert len(gallery.index) == gallery.reference_count() == 3 * len(present)
        for name in present:  # every enrolment is whole: all three references and the metadata, or nothing
            assert gallery.reference_count(name) == 3
            assert gallery.metadata(name) == {"index": name.split("-")[1]}
        assert gallery.identify(embedding=np.zeros(DIM), top_k=len(present), threshold=100.0).candidates


def test_export_and_import_round_trip(tmp_path: Path) -> None:
    model = identity_model()
    references = random_references(seed=5, identities=5)
    with Gallery.create(tmp_path / "source.sqlite", model) as source:
        for index, (name, vectors) in enumerate(references.items()):
            source.enrol(name, embeddings=vectors, metadata={"index": str(index)})
        source.export(tmp_path / "backup.npz")
    with Gallery.create(tmp_path / "copy.sqlite", model) as copy:
        assert copy.import_from(tmp_path / "backup.npz") == sum(len(vectors) for vectors in references.values())
        assert copy.identities() == sorted(references)
        for index, (name, vectors) in enumerate(references.items()):
            assert copy.metadata(name) == {"index": str(index)}
            stored = copy.storage.identity_embeddings(name, DIM)
            np.testing.assert_array_equal(stored, vectors)
        assert len(copy.index) == copy.reference_count()
    with Gallery.create(tmp_path / "other.sqlite", identity_model(scale=3.0)) as other:
        with pytest.raises(GalleryError, match="fingerprint"):
            other.import_from(tmp_path / "backup.npz")
        (tmp_path / "junk.npz").write_bytes(b"junk")
        with pytest.raises(GalleryError, match="cannot read"):
            other.import_from(tmp_path / "junk.npz")
        assert other.identities() == []


def test_enrol_many_is_all_or_nothing(tmp_path: Path) -> None:
    with Gallery.create(tmp_path / "g.sqlite", identity_model()) as gallery:
        with pytest.raises(GalleryError, match="shape"):
            gallery.enrol_many([("alice", np.zeros((1, DIM)), None), ("bob", np.zeros((1, 3)), None)])
        assert gallery.identities() == [] and len(gallery.index) == 0
        assert gallery.enrol_many([("alice", np.zeros((2, DIM)), {"a": "1"}), ("bob", np.ones((1, DIM)), None)]) == 3
        assert gallery.identify(embedding=np.ones(DIM)).identity == "bob"


def test_half_twin_references_use_the_second_branch(tmp_path: Path) -> None:
    encoder = EncoderConfig("mlp", (1, 4, 4), DIM, {"hidden_dims": []})
    network = SiameseNetwork.from_config(SiameseConfig(encoder, ComparisonConfig("euclidean"), shared_weights=False))
    assert network.second_encoder is not None
    for module, scale in ((network.encoder, 1.0), (network.second_encoder, 2.0)):
        linear = module.get_submodule("1")
        assert isinstance(linear, torch.nn.Linear)
        with torch.no_grad():
            linear.weight.copy_(torch.eye(DIM) * scale)
            linear.bias.zero_()
    model = SiameseModel(network, PreprocessingConfig(image_size=(4, 4)), threshold=0.1)
    with Gallery.create(tmp_path / "g.sqlite", model) as gallery:
        gallery.enrol("a", square(51))  # the second branch doubles it: 0.4 per pixel
        result = gallery.identify(square(102))  # the first branch keeps it: 0.4 per pixel
        assert result.identity == "a" and result.score == pytest.approx(0.0, abs=1e-5)
        assert gallery.verify_claim("a", square(102)).accepted
