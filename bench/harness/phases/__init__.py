"""The benchmark's phases, one module each; bench.py runs them in turn in every repetition (instructions and
package once per run). Each `run(rep, run)` stores what it measured into `rep`, a failure into the run's list."""
