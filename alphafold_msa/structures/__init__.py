"""Template structures: reading PDB/mmCIF files and aligning their chains to the query (client-safe)."""
