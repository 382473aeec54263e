"""Lava processes of the converter nodes (imported only when a network is built)."""
