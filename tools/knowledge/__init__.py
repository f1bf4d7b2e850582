"""The guideline knowledge base: load files, chunk them by heading, embed, store in pgvector, search.

Nothing here imports torch or the embedding model at import time; the model loads on first use
through the gateway's 'embedder' alias.
"""
