"""The training flow: run(cfg) places the run, takes its lock, writes the run directory's
files, loads the data and hands over to the stage's method (core/methods/)."""
