-- Failed attempts at a secret are counted per client and per kind (sign-in,
-- access token, authorization code, authorization request), so a broken app
-- retrying an expired token cannot lock its owner out of signing in.
ALTER TABLE auth_failures ADD COLUMN kind TEXT NOT NULL DEFAULT 'sign-in';

DROP INDEX auth_failures_client;
CREATE INDEX auth_failures_client_kind ON auth_failures (client, kind, at);
