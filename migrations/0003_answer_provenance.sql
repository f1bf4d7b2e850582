-- Every answer the agent gives, with what produced it: models (alias, resolved file hash or digest),
-- expert prompt versions, gate weights, retrieved chunk ids, tool calls with inputs and outputs,
-- sampling settings and the verification verdict. This is what makes an answer reproducible and auditable.
CREATE TABLE answer_provenance (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_id text NOT NULL,
    message_id text,                 -- the chat UI's assistant message id, when answered in the UI
    question text NOT NULL,
    answer text NOT NULL,
    verdict text NOT NULL CHECK (verdict IN ('verified', 'partially_verified', 'unverified')),
    provenance jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX answer_provenance_thread ON answer_provenance (thread_id, created_at);
CREATE UNIQUE INDEX answer_provenance_message ON answer_provenance (message_id) WHERE message_id IS NOT NULL;
