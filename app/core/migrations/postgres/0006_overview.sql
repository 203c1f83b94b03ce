-- The overview's token refreshes per day: a range of one source's issue times.
CREATE INDEX access_tokens_source_issued_idx ON access_tokens (source, issued_at);
