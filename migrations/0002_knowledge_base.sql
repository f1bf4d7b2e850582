-- Guideline knowledge base: one row per ingested file, its chunks with embeddings and full-text vectors,
-- and the embedding model the vectors came from (vectors of two models must never be compared).

-- The embedding model in use: a single row. Ingest and search compare it with models.yaml's 'embedder'
-- and refuse to mix; `radassist reindex` re-embeds every chunk and rewrites this row.
CREATE TABLE kb_embedding_model (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    model text NOT NULL,
    dimension integer NOT NULL CHECK (dimension BETWEEN 1 AND 4000),  -- HNSW indexes `halfvec` up to 4000
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One ingested file. `slug` (the file name without extension) is the stable key: re-ingesting the same
-- slug replaces its chunks; `sha256` of the file bytes makes re-ingesting an unchanged file a no-op.
CREATE TABLE kb_sources (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    path text NOT NULL,
    title text NOT NULL,
    society text,
    year integer,
    version text,
    url text,
    licence text,
    sha256 text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    ingested_at timestamptz NOT NULL DEFAULT now()
);

-- to_tsvector needs an immutable argument; array_to_string is only stable (it could call any type's
-- output function), but for text[] the result cannot change, so this wrapper is honestly immutable.
CREATE FUNCTION kb_heading_text(heading_path text[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT array_to_string(heading_path, ' ') $$;

-- One retrievable passage. The filter columns hold lower-cased values copied from the source's front
-- matter (a source may name several); `metadata` keeps them as written, for display.
-- Vectors are stored as halfvec (16-bit floats): half the size of `vector`, so the HNSW graph stays in
-- shared buffers twice as long and a 100k-chunk search is about twice as fast (bench/retrieval.py);
-- for unit-length sentence embeddings the rounding (~1e-3 per component) does not change rankings.
-- The dimension is that of the default embedder (all-MiniLM-L6-v2: 384); `radassist reindex` changes
-- the column type and rebuilds the HNSW index when another model has another dimension.
CREATE TABLE kb_chunks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id bigint NOT NULL REFERENCES kb_sources (id) ON DELETE CASCADE,
    chunk_index integer NOT NULL,
    heading_path text[] NOT NULL DEFAULT '{}',
    page integer,
    text text NOT NULL,
    embedding halfvec(384) NOT NULL,
    system text[] NOT NULL DEFAULT '{}',
    body_region text[] NOT NULL DEFAULT '{}',
    modality text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(kb_heading_text(heading_path), '')), 'A')
        || setweight(to_tsvector('english'::regconfig, text), 'B')
    ) STORED,
    UNIQUE (source_id, chunk_index)
);

-- m/ef_construction: measured in bench/retrieval.py (recall@10 against an exact scan at 100k chunks).
CREATE INDEX kb_chunks_embedding_hnsw ON kb_chunks
    USING hnsw (embedding halfvec_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX kb_chunks_tsv_gin ON kb_chunks USING gin (tsv);
-- Filters: selective ones let the planner choose an exact scan over the matching rows.
CREATE INDEX kb_chunks_system_gin ON kb_chunks USING gin (system);
CREATE INDEX kb_chunks_body_region_gin ON kb_chunks USING gin (body_region);
CREATE INDEX kb_chunks_modality_gin ON kb_chunks USING gin (modality);
