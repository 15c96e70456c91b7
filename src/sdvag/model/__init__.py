"""Step 1: read a model file, refuse what PySD cannot simulate correctly, compile it with PySD."""
