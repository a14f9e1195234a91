"""Stage 2, features: utterances become rows of features, cached on disk, and are normalised by group.

`frontends/` holds the front-end interface and the built-ins, `cache` the content-addressed feature cache,
`normalisation` per-feature standardisation by training part, corpus, speaker or utterance.
"""
