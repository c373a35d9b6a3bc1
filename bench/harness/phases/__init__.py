"""The benchmark's phases, one module each: bench.py runs cold, load, limits, pairs and sse in every repetition
(`run(rep, run)`), instructions and package once per run (`run(res, run)`); a failure goes on the run's record."""
