-- An API key may be limited to chosen instances: their ids, space-separated; NULL for every
-- instance. Outside its instances a key sees nothing (404), as if they did not exist.
ALTER TABLE api_keys ADD COLUMN instances TEXT;
