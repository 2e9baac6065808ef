-- Accounts: names unique regardless of case; guests have no password until they register.
CREATE TABLE sso_accounts (
    account_id    bigserial PRIMARY KEY,
    display_name  text        NOT NULL,
    password_hash text,
    guest         boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    CHECK (guest OR password_hash IS NOT NULL)
);
CREATE UNIQUE INDEX sso_accounts_display_name_ci ON sso_accounts (lower(display_name));

-- A device logs in as exactly one account (its guest account, or the account it upgraded to).
CREATE TABLE sso_devices (
    device_id   text        PRIMARY KEY,
    account_id  bigint      NOT NULL REFERENCES sso_accounts (account_id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sso_devices_account ON sso_devices (account_id);
