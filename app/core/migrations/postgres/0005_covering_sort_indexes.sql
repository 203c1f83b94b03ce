-- The sort indexes of GetFilteredPage carry status too, so the default page (active users,
-- any instance) is picked from the index alone: a deep OFFSET skips index entries without
-- reading a row. Measured before: 1.8 s (SQLite) for page 5,000 of 100 among 10^6 users.
-- And City, a GetFilteredPage filter, gets its index like Country.
DROP INDEX users_created_sort_idx;
DROP INDEX users_email_sort_idx;
DROP INDEX users_first_name_sort_idx;
DROP INDEX users_last_name_sort_idx;
CREATE INDEX users_created_sort_idx ON users (date_created, device_token, status);
CREATE INDEX users_email_sort_idx ON users (coalesce(email, ''), device_token, status);
CREATE INDEX users_first_name_sort_idx ON users (coalesce(lower(first_name), ''), device_token, status);
CREATE INDEX users_last_name_sort_idx ON users (coalesce(lower(last_name), ''), device_token, status);
CREATE INDEX users_city_idx ON users (lower(city));
