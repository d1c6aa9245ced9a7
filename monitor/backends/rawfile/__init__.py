"""Backends that read a dropped file themselves: the shared scanning, splitting and savepointed tries."""
