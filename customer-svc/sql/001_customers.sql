-- customer-svc owns this table; order-svc references customers(id).
-- gen_random_uuid() is built in since PostgreSQL 13: no extension needed.

CREATE TABLE IF NOT EXISTS customers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- "Email already registered" ignores case: the database enforces it, so two
-- concurrent sign-ups with Alice@ and alice@ cannot both win.
CREATE UNIQUE INDEX IF NOT EXISTS customers_email_lower_key ON customers (lower(email));

-- GET /api/v1/customers is ordered by name (LIMIT 100): an index walk, not a sort.
CREATE INDEX IF NOT EXISTS customers_name_idx ON customers (name, id);
