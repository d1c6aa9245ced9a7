"""Operate: the daemon, the command line, the status page, metrics, logs and service hooks."""
