"""Stage 4, runs: a sweep's settings become planned runs, each prepared from its split, trained through the
method contract (serbench.method, serbench.training), probed, and stored as a typed record in the results store.

`settings` is the sweep's settings (SweepConfig), `plan` expands them into runs with their identities, `prepare`
turns a run's split into row sets and, once trained, into its record, `worker` claims and trains runs, `launch`
starts sweeps locally or on SLURM and prints their summary; `record` is the run record's schema, `store` the
kill-safe results store, `scores` the records' score tables; `probes` the post-hoc embedding probes; `bench` the
timed pipeline rows of `serbench bench`.
"""
