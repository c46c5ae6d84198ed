"""Ingestion library: parse, chunk, embed, index, search. No web or queue code."""
