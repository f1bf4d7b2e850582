-- Term statistics for BM25 ranking of the knowledge base's full-text side (tools/knowledge/search.py).
--
-- BM25 weighs a word by its rarity: the number of chunks containing it (document frequency) against the
-- number of chunks, and a chunk's length against the average. PostgreSQL's own statistics (pg_stats) track
-- only the most common lexemes of a sample, which says nothing about the rare words that matter most, so the
-- exact figures are kept here, maintained by statement-level triggers in the transaction that writes or
-- deletes chunks: an ingest that rolls back leaves them as they were.

-- Chunks containing each lexeme (as the tsv column stores it: English stems, heading and body together).
CREATE TABLE kb_terms (
    lexeme text PRIMARY KEY,
    chunks integer NOT NULL CHECK (chunks > 0)
);

-- Chunk count and total chunk length (in distinct lexemes, length(tsv)), for BM25's average length.
CREATE TABLE kb_term_totals (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chunks bigint NOT NULL CHECK (chunks >= 0),
    lexemes bigint NOT NULL CHECK (lexemes >= 0)
);

-- Reference lists are no longer retrievable (tools/knowledge/chunking.py: they match many words and answer
-- nothing); remove the ones ingested before, so existing knowledge bases rank like new ones.
DELETE FROM kb_chunks
WHERE lower(heading_path[cardinality(heading_path)])
      IN ('references', 'bibliography', 'source publications', 'sources', 'literature');

INSERT INTO kb_term_totals (chunks, lexemes)
SELECT count(*), coalesce(sum(length(tsv)), 0) FROM kb_chunks;

INSERT INTO kb_terms (lexeme, chunks)
SELECT lexeme, count(*) FROM kb_chunks, unnest(tsvector_to_array(tsv)) AS lexeme GROUP BY lexeme;

-- Lexemes are upserted in sorted order so two concurrent writers lock shared rows in the same order.
CREATE FUNCTION kb_terms_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kb_terms AS t (lexeme, chunks)
    SELECT lexeme, count(*) FROM new_rows, unnest(tsvector_to_array(new_rows.tsv)) AS lexeme
    GROUP BY lexeme ORDER BY lexeme
    ON CONFLICT (lexeme) DO UPDATE SET chunks = t.chunks + EXCLUDED.chunks;
    UPDATE kb_term_totals SET chunks = kb_term_totals.chunks + s.n, lexemes = kb_term_totals.lexemes + s.len
    FROM (SELECT count(*) AS n, coalesce(sum(length(tsv)), 0) AS len FROM new_rows) AS s;
    RETURN NULL;
END
$$;

CREATE FUNCTION kb_terms_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH gone AS (
        SELECT lexeme, count(*) AS n FROM old_rows, unnest(tsvector_to_array(old_rows.tsv)) AS lexeme
        GROUP BY lexeme
    ), emptied AS (
        DELETE FROM kb_terms AS t USING gone WHERE t.lexeme = gone.lexeme AND t.chunks <= gone.n
    )
    UPDATE kb_terms AS t SET chunks = t.chunks - gone.n FROM gone
    WHERE t.lexeme = gone.lexeme AND t.chunks > gone.n;
    UPDATE kb_term_totals SET chunks = kb_term_totals.chunks - s.n, lexemes = kb_term_totals.lexemes - s.len
    FROM (SELECT count(*) AS n, coalesce(sum(length(tsv)), 0) AS len FROM old_rows) AS s;
    RETURN NULL;
END
$$;

CREATE FUNCTION kb_terms_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM kb_terms;
    UPDATE kb_term_totals SET chunks = 0, lexemes = 0;
    RETURN NULL;
END
$$;

-- A chunk's text never changes in place (ingest replaces a source's chunks; reindex rewrites only vectors),
-- which keeps the counts exact without an UPDATE trigger that would have to re-count every reindexed row.
CREATE FUNCTION kb_chunks_text_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'kb_chunks.text and heading_path cannot be updated; re-ingest the source instead'
        USING ERRCODE = 'feature_not_supported';
END
$$;

CREATE TRIGGER kb_terms_on_insert AFTER INSERT ON kb_chunks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kb_terms_count_inserted();
CREATE TRIGGER kb_terms_on_delete AFTER DELETE ON kb_chunks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kb_terms_count_deleted();
CREATE TRIGGER kb_terms_on_truncate AFTER TRUNCATE ON kb_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION kb_terms_count_truncated();
CREATE TRIGGER kb_chunks_text_unchanged BEFORE UPDATE OF text, heading_path ON kb_chunks
    FOR EACH ROW EXECUTE FUNCTION kb_chunks_text_is_immutable();
