"""Stage 3, protocols: which corpora train and test, their folds, adaptation, normalisation and model selection.

`protocol` reads and checks protocol files and makes folds with the leakage guard; the built-in protocol files
(*.toml) sit beside it, installed as package data.
"""
