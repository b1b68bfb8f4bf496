"""The query library: one ``.cypher`` template per query, shipped as package data."""
