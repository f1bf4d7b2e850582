-- Verdicts that say what verification did (issue 12): 'verified' (the model's commentary kept and checked),
-- 'grounded' (its commentary dropped or not drafted: tool results and passages only), 'partial' (some of its
-- statements kept, others removed or not confirmed), 'cannot_answer' (nothing relevant).
-- Earlier answers are relabelled from their own stored trace (provenance.verification: the last round's claims
-- per expert, and whether the answer fell back to the grounded one): 'unverified' was only ever written when
-- nothing answered; 'partially_verified' meant statements were kept and some marked not verified; and
-- 'verified' was also written for answers whose commentary was dropped or never drafted.
ALTER TABLE answer_provenance DROP CONSTRAINT answer_provenance_verdict_check;

UPDATE answer_provenance SET verdict = CASE
    WHEN verdict = 'unverified' THEN 'cannot_answer'
    WHEN verdict = 'partially_verified' THEN 'partial'
    WHEN coalesce((provenance #>> '{verification,fallback_to_grounded}')::boolean, false)
        OR NOT jsonb_path_exists(provenance, '$.verification.experts.*.claims[*]') THEN 'grounded'
    WHEN jsonb_path_exists(
        provenance, '$.verification.experts.*.claims[*] ? (@.status == "unsupported" || @.status == "contradicted")'
    ) THEN 'partial'
    ELSE 'verified'
END
WHERE verdict IN ('unverified', 'partially_verified', 'verified');

ALTER TABLE answer_provenance ADD CONSTRAINT answer_provenance_verdict_check
    CHECK (verdict IN ('verified', 'grounded', 'partial', 'cannot_answer'));
