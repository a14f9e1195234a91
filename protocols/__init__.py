"""The built-in protocol files (*.toml), installed as package data; see serbench.protocol."""
