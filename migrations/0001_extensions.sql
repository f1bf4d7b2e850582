-- pgvector powers guideline retrieval; 0.8+ is checked by the migration runner before this runs.
CREATE EXTENSION IF NOT EXISTS vector;
