"""Stage 4, runs: a sweep's settings become planned runs, each prepared from its split, trained through the
method contract (serbench.method, serbench.training), probed, and stored as a typed record in the results store.

`runner` plans, prepares and works through runs; `launch` starts sweeps locally or on SLURM; `record` is the run
record's schema; `store` the kill-safe results store; `probes` the post-hoc embedding probes; `bench` the timed
pipeline rows of `serbench bench`.
"""
