"""A file's state: the machine, its leases, its moves, the loads in flight and how a load ends."""
