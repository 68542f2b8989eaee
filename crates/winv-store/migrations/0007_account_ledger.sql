-- The lockout guard across the scanners of a shared run (names only, never a secret).
-- Each scanner guards its own connects; this ledger makes the guard's limit hold for
-- the run: an account not yet accepted by any computer of the run (`proven` = 0) may
-- be in flight, on all scanners together, on at most `limit - refusals` computers,
-- and is retired for every scanner once its refusals reach the limit.
CREATE TABLE account_ledger (
    run_id        BIGINT NOT NULL REFERENCES runs (id),
    account       TEXT   NOT NULL,
    refusals      BIGINT NOT NULL,          -- refused before any acceptance
    proven        BIGINT NOT NULL,          -- 1 once a computer accepted it
    retired_after BIGINT,                   -- the refusals that retired it
    PRIMARY KEY (run_id, account)
);

-- A connect of an unproven account in flight: one of the account's places, given back
-- with its verdict. A place whose scanner stopped heartbeating (killed) is counted as
-- a refusal: its verdict is unknown, and the safe side is to assume the worst.
CREATE TABLE account_passes (
    run_id     BIGINT NOT NULL REFERENCES runs (id),
    account    TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    scanner_id BIGINT NOT NULL,
    taken_ms   BIGINT NOT NULL,
    PRIMARY KEY (run_id, account, target)
);
