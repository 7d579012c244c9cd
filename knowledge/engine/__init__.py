"""The retrieval engine: normalise → tokenise → index → rank. Pure: no database, no network."""
