"""Intake: watch folders, tell when a dropped file is complete, hash it, move it between work folders."""
