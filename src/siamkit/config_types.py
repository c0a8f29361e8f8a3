"""Type checks for configuration dataclasses read from JSON, so that a mistyped field is named in one line.

Recipes and bundles are JSON written by people as often as by siamkit; `"max_steps": "10"` would otherwise fail
deep inside training with a `TypeError`, or, worse, be read as something else (`"40"` as the image size (4, 0)).
`check_field_types` compares each field's value with its annotation, for the simple types configuration uses;
fields of other types (nested configs, free-form option dicts) are left to their own checks.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal

from siamkit.errors import ConfigError


def check_field_types(config: Any, section: str) -> None:
    """Raises ConfigError naming `section` and the first field whose value does not fit its annotation.

    Args:
        config: A dataclass instance, checked before its `__post_init__` converts or validates values.
        section: How the message names the config (`training`, `preprocessing`, ...).
    """
    hints = _type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        expected = hints[field.name]
        if not _fits(value, expected):
            raise ConfigError(f"{section} {field.name} must be {_describe(expected)}, got {value!r}")


_HINTS: dict[type, dict[str, Any]] = {}


def _type_hints(config_type: type) -> dict[str, Any]:
    """The class's annotations resolved once (they are strings under `from __future__ import annotations`)."""
    if config_type not in _HINTS:
        _HINTS[config_type] = typing.get_type_hints(config_type)
    return _HINTS[config_type]


def _fits(value: Any, expected: Any) -> bool:
    origin, arguments = typing.get_origin(expected), typing.get_args(expected)
    if expected is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, argument) for argument in arguments)
    if origin is Literal:
        return True  # each config names its allowed values itself, with the choices in the message
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, (str, os.PathLike))  # paths are often given as Path objects
    if expected is Path:
        return isinstance(value, (str, Path))
    if origin is dict or expected is dict:
        return isinstance(value, dict)  # the entries are free-form options, checked where they are used
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False
        if not arguments:
            return True
        if origin is list or arguments[-1] is Ellipsis:
            return all(_fits(item, arguments[0]) for item in value)
        return len(value) == len(arguments) and all(
            _fits(item, kind) for item, kind in zip(value, arguments, strict=True)
        )
    return True  # nested configs, callables: checked where they are used


_NAMES = {type(None): "null", bool: "true or false", int: "a whole number", float: "a number", str: "a string",
          Path: "a path", dict: "an object"}  # fmt: skip
_PLURALS = {int: "whole numbers", float: "numbers", str: "strings"}
_COUNTS = {2: "two", 3: "three"}


def _describe(expected: Any) -> str:
    origin, arguments = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(argument) for argument in arguments)
    if origin is dict:
        return "an object"
    if origin in (tuple, list):
        if not arguments:
            return "a list"
        if origin is tuple and arguments[-1] is not Ellipsis:
            if len(set(arguments)) == 1 and arguments[0] in _PLURALS:
                return f"{_COUNTS.get(len(arguments), len(arguments))} {_PLURALS[arguments[0]]}"
            return f"a list of {len(arguments)} ({', '.join(_describe(argument) for argument in arguments)})"
        return f"a list of {_PLURALS.get(arguments[0], _describe(arguments[0]))}"
    return _NAMES.get(expected, getattr(expected, "__name__", str(expected)))
