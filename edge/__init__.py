"""Aquastand stand (edge) process: session engine, local store and the attendant's touchscreen."""
