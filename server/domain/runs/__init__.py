"""Runs: simulations and trainings of models, their executors, workers and steering."""
