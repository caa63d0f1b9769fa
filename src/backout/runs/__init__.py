"""Runs: the durable executor, the vocabulary of run and step states, and who owns a run."""
