"""Errors a user can cause and fix. The CLI prints them as one line and exits with code 2."""


class SiamkitError(Exception):
    """Base class for problems with the user's input, files or configuration."""


class ConfigError(SiamkitError, ValueError):
    """A configuration value, option or component name is wrong."""


class DataError(SiamkitError, ValueError):
    """An input file or data set is unreadable, empty or malformed; the message names the file."""


class BundleError(SiamkitError, ValueError):
    """A model bundle is missing, incomplete or altered."""
