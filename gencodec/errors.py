"""One exception family, so the CLI and the app can turn any expected failure into one clear line."""


class GencodecError(Exception):
    """Base of every error a user can cause (bad file, bad input, missing weights)."""


class FormatError(GencodecError):
    """The bytes are not a valid .gcodec file (truncated, corrupt, foreign or from a newer version)."""


class InputError(GencodecError):
    """The media or parameters given to encode are unusable (missing, unsupported, too large)."""


class ModelUnavailableError(GencodecError):
    """Model weights cannot be loaded (not cached offline, wrong id)."""
