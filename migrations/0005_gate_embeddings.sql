-- The gate's embeddings of each expert's description and examples (agent/gate.py), so a CLI command
-- does not re-embed every expert on start. Keyed by the expert file's sha256 and the embedding model
-- (models.yaml's `embedder` string): editing an expert or swapping the model is a cache miss, never a
-- stale vector. `vectors` holds float32 rows, `dimension` wide, in the order description, examples.
CREATE TABLE gate_embeddings (
    expert text NOT NULL,
    expert_sha256 text NOT NULL CHECK (expert_sha256 ~ '^[0-9a-f]{64}$'),
    embedder text NOT NULL,
    dimension integer NOT NULL CHECK (dimension > 0),
    vectors bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (expert, expert_sha256, embedder)
);
