-- winventory store, schema version 8: the software summary from an index alone.
--
-- The dashboard's software page and the reports' Software sheet group a run's installed
-- programs by (name, publisher, version) and count distinct computers. With only
-- (run_id, name) that read every row of the table (scattered over the file, one
-- computer's rows at a time) for each request; this index holds every column those
-- queries read, in their grouping order, so they read the index only. It starts with
-- (run_id, name), so it replaces installed_software_run_name for the lookups by name.
CREATE INDEX installed_software_run_title
    ON installed_software (run_id, name, publisher, version, computer_id);
DROP INDEX installed_software_run_name;
