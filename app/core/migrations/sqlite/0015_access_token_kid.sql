-- Which signing key signed each access token, so the Signing keys page can say how many
-- tokens each key still has live (NULL for tokens issued before this column).
ALTER TABLE access_tokens ADD COLUMN kid TEXT;
