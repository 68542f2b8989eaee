-- winventory store, schema version 8, PostgreSQL (the same as
-- migrations/0008_software_titles.sql): the software summary from an index alone.
--
-- The dashboard's software page and the reports' Software sheet group a run's installed
-- programs by (name, publisher, version) and count distinct computers; this index holds
-- every column those queries read, in their order (NULLs first, as the queries sort and
-- as SQLite's index does), so they can be answered from the index. It starts with
-- (run_id, name), so it replaces installed_software_run_name for the lookups by name.
CREATE INDEX installed_software_run_title
    ON installed_software (run_id, name, publisher NULLS FIRST, version NULLS FIRST, computer_id);
DROP INDEX installed_software_run_name;
