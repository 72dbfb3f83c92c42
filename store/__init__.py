"""The Qdrant point schema and the two store backends (Qdrant Edge, qdrant-client).

Import what you need from its module (`framesearch.store.open.open_store`, `framesearch.store.schema.VideoRecord`,
...): this package imports nothing itself, so reading a record or a store's description loads no engine.
"""
