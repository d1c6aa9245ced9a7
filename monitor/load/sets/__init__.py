"""Snapshot sets: the set record and its machine, a part's flow, a complete set's one load."""
