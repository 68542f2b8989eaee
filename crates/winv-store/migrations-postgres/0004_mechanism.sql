-- The security mechanism that worked for a computer (`ntlm`, `kerberos`): a name, never a
-- secret; NULL when no credential got past the logon, and for runs recorded before it.
ALTER TABLE computers ADD COLUMN mechanism TEXT;
