"""Everything a client can get wrong about an image: each error's message says what and what to send."""

from __future__ import annotations


class InputError(ValueError):
    """Something the client sent cannot be turned into a digit image; the message says what and why."""


class ImageDecodeError(InputError):
    """The bytes are not an image Pillow can read (or are a damaged one)."""


class ImageTooLargeError(InputError):
    """The image declares more pixels than the server accepts."""


class NoDigitError(InputError):
    """The image is blank: no ink stands out from the background."""


class PixelsError(InputError):
    """An array of pixels has the wrong shape, type or values."""


class TooManyPiecesError(InputError):
    """The image holds more separate marks than one request may read."""
