"""Data: built-in generators, local and hub sources, mixtures, and the TRL formats per mode."""
