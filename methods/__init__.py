"""The built-in method plugins: the paper's six systems (docs/methods.md). Importing this package registers them."""

from serbench.methods import baseline, dann  # noqa: F401
