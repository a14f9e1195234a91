"""Stage 5, reports: stored runs become tables, significance tests and leaderboard pages.

`stats` holds the paired and speaker-level tests and the ranking, `calibration` their checks by simulation,
`leaderboard` the markdown pages and their figures.
"""
