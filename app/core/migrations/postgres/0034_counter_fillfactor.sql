-- The counter tables keep half of each page free (issue 19). Their rows are updated all the
-- time: a registration's and a refresh's upserts, and hundreds of rows per statement when a
-- batch, an import with its own registration dates or a bulk action moves users of many
-- days. At the default fillfactor a page has no room for a row's new version, so the update
-- puts it on another page with another index entry, and the table grows. With room on the
-- page the update is HOT and the page's dead versions are pruned in place. CLUSTER rewrites
-- what is already there, compact, at the new fillfactor.
ALTER TABLE user_counts SET (fillfactor = 50);
ALTER TABLE activity_counts SET (fillfactor = 50);
ALTER TABLE active_days SET (fillfactor = 50);
CLUSTER user_counts USING user_counts_pkey;
CLUSTER activity_counts USING activity_counts_pkey;
CLUSTER active_days USING active_days_pkey;
