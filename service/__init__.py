"""Search: embed the query, ANN search in Qdrant, group frame hits into time segments; plus the HTTP app."""
