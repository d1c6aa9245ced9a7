"""Writing a file's rows: one load's run, the strategies, the rows' route, careful mode and parallel fills."""
