"""Reading a file: its format, names, types, what its name says (snapshots), the header's checks and its rejects."""
