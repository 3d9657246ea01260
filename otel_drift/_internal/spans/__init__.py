"""Finished spans coming in: the SDK span processor, its reader and the matching.

The processor is the thin adapter the SDK calls on the request thread; what it
parks is read and matched on the engine's worker.
"""
