"""Event streams as a second kind of source beside dropped files: the Companies House
streaming API kept applied to a table between monthly snapshots (README "Streams").

framing (lines, heartbeats, malformed lines) -> mapping (a profile to the snapshot's columns)
-> applier (a batch merged on the key, its position and audit row) -> join (a new snapshot,
then the events since applied again); client (HTTP, backoff, circuit breaker) and runner
(one thread and asyncio loop per stream) keep it connected; replay applies a recorded file.
"""
