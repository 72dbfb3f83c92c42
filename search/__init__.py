"""The search core: a query (text, vector or image) in, ranked segments or frames out. No web code."""
