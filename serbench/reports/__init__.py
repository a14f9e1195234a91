"""Stage 5, reports: stored runs become tables, significance tests and leaderboard pages.

`records` chooses the runs a leaderboard may publish, `tables` turns them into score tables, `comparisons` tests
a page's systems against its reference, `stats` holds the paired and speaker-level tests and the ranking,
`calibration` their checks by simulation, `figures`, `markdown` and `sections` draw and word a page, and `pages`
writes the pages and the index (`write_leaderboards`).
"""
