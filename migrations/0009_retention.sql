-- Retention (`radassist purge --older-than`) finds old conversations by their last activity, and erasing a
-- thread finds its provenance by thread id (answer_provenance_thread, from 0003, already serves that).
CREATE INDEX answer_provenance_created ON answer_provenance (created_at);
CREATE INDEX threads_updated ON threads (updated_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
