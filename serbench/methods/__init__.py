"""The built-in method plugins (docs/methods.md); importing this package registers them: the paper's six systems
(baseline, dann: the PaperSystem family of paper.py, trained together by fusion.py), the eGeMAPS baseline
(egemaps), the self-supervised-model methods (ssl) and a pretrained classifier as it is (pretrained); for the
dimensional tasks, eGeMAPS regressors (egemaps_ratings) and the paper's and the ssl methods with a rating output
and the CCC loss (paper_ratings, ssl_ratings)."""

from serbench.methods import (  # noqa: F401
    baseline,
    dann,
    egemaps,
    egemaps_ratings,
    paper_ratings,
    pretrained,
    ssl,
    ssl_ratings,
)
