"""OneWindow: a trade Single Window — one declaration, one inspection, one release."""

__version__ = "0.1.0"
