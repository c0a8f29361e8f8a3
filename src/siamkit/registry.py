"""A small name -> factory registry, so components are picked by name from configs and the CLI.

Each component package (encoders, comparisons, losses, mining) owns one `Registry` and exposes a
`create_*` factory over it; adding a component is one file with a `@REGISTRY.register("name")` line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from siamkit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps component names to the callables that build them.

    Args:
        kind: What the registry holds ("encoder", "comparison", ...), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that records `factory` under `name`; a name can be registered once."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return decorator

    def create(self, name: str, **options: object) -> T:
        """Builds the component registered as `name` with keyword `options`."""
        try:
            factory = self._factories[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None
        try:
            return factory(**options)
        except TypeError as error:
            raise ConfigError(f"bad options for {self.kind} {name!r}: {error}") from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
