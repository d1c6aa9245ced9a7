"""Load: one file from its claim to its end state: read, plan, strategy, state machine, rejects."""
