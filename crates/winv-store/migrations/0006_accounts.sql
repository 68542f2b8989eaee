-- The lockout guard's account of each credential of a run (names only, never a secret):
-- the computers a connect with it started on, accepted it, refused it (a wrong password,
-- an unknown account), and the refusals in a row after which the guard retired it (NULL:
-- not retired). A resumed run adds its counts to the row and keeps a retirement.
CREATE TABLE run_accounts (
    run_id        BIGINT NOT NULL REFERENCES runs (id),
    position      BIGINT NOT NULL,          -- the account's place in the credential list
    account       TEXT   NOT NULL,
    tried         BIGINT NOT NULL,
    accepted      BIGINT NOT NULL,
    refused       BIGINT NOT NULL,
    retired_after BIGINT,
    PRIMARY KEY (run_id, account)
);
