"""Front-ends: what turns audio into features, registered with `@register_frontend("name")` (serbench/plugins.py).

Built-ins: `spectrogram` (the paper's, the default), `logmel`, `egemaps`, `ssl` and `checkpoint`; installed packages
add more through the entry-point group `serbench.frontends`, local files through `--plugin`. docs/frontends.md is the
guide.
"""

# The built-ins register themselves when imported (the heavy libraries, opensmile and transformers, load on first
# use); the registry is their own module, so they do not import this package back.
from serbench.features.frontends import checkpoint, egemaps, logmel, spectrogram, ssl  # noqa: F401
from serbench.features.frontends.registry import (
    DEFAULT_FRONTEND,
    FRONTENDS,
    discover_frontends,
    make_frontend,
    register_frontend,
)

__all__ = ["DEFAULT_FRONTEND", "FRONTENDS", "discover_frontends", "make_frontend", "register_frontend"]
