"""Stage 1, data: corpus releases on disk become labelled utterance tables.

`corpora/` reads each release in its own format (and any other corpus from a manifest), `labels` maps its
emotions to the tasks, `audio` reads and resamples, `synth/` writes the synthetic stand-ins, `sources` resolves
`--data` to release folders.
"""
