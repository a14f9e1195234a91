"""serbench: a benchmark harness for cross-corpus speech emotion recognition."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("serbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
