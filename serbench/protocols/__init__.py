"""Stage 3, protocols: which corpora train and test, their folds, adaptation, normalisation and model selection.

`protocol` declares the keys of a protocol file (PROTOCOL_KEYS), reads and checks files by them with `schema`'s
generic routine, and splits utterances into parts with the leakage guard; `splits` holds the split kinds, one
registered class each, which make the folds. The built-in protocol files (*.toml) sit beside them, installed as
package data.
"""
