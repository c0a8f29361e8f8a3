"""How a gallery searches its references: exactly, approximately (HNSW graph), or chosen by gallery size."""

from __future__ import annotations

from dataclasses import dataclass

from siamkit.errors import ConfigError

SEARCH_MODES = ("exact", "hnsw", "auto")


@dataclass(frozen=True)
class SearchConfig:
    """Search settings of a gallery; stored in the gallery file and overridable when it is opened.

    Attributes:
        mode: "exact" scans every reference; "hnsw" walks a faiss HNSW graph (approximate, much faster on large
            galleries); "auto" is exact until the gallery holds `auto_threshold` references, then HNSW.
        hnsw_neighbors: Graph links per node (faiss's M); more links raise recall, memory and build time.
        hnsw_ef_construction: Candidate list length while building the graph; higher builds a better graph, slower.
        hnsw_ef_search: Candidate list length while searching (raised to the number of results asked for);
            the recall/speed knob.
        auto_threshold: Reference count from which "auto" switches to HNSW.
    """

    mode: str = "exact"
    hnsw_neighbors: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 64
    auto_threshold: int = 100_000

    def __post_init__(self) -> None:
        if self.mode not in SEARCH_MODES:
            raise ConfigError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {self.mode!r}")
        for name in ("hnsw_neighbors", "hnsw_ef_construction", "hnsw_ef_search", "auto_threshold"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"search setting {name} must be a positive integer, got {value!r}")

    def to_settings(self) -> dict[str, str]:
        """The gallery-file settings rows (key, value) that store this configuration."""
        return {
            "search": self.mode,
            "hnsw_neighbors": str(self.hnsw_neighbors),
            "hnsw_ef_construction": str(self.hnsw_ef_construction),
            "hnsw_ef_search": str(self.hnsw_ef_search),
            "auto_threshold": str(self.auto_threshold),
        }

    @classmethod
    def from_settings(cls, rows: dict[str, str]) -> SearchConfig:
        """Reads the rows written by `to_settings`; files written before search settings existed get defaults."""
        defaults = cls()
        return cls(
            mode=rows.get("search", defaults.mode),
            hnsw_neighbors=int(rows.get("hnsw_neighbors", defaults.hnsw_neighbors)),
            hnsw_ef_construction=int(rows.get("hnsw_ef_construction", defaults.hnsw_ef_construction)),
            hnsw_ef_search=int(rows.get("hnsw_ef_search", defaults.hnsw_ef_search)),
            auto_threshold=int(rows.get("auto_threshold", defaults.auto_threshold)),
        )
