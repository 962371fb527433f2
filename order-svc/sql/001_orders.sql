-- order-svc owns orders, order_items, outbox and idempotency_keys. products
-- (catalog-svc) and customers (customer-svc) exist before this runs: the
-- service waits for them at start-up.

CREATE TABLE IF NOT EXISTS orders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers (id),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'confirmed', 'shipped', 'delivered', 'cancelled')),
    total numeric(12, 2) NOT NULL CHECK (total >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- GET /orders?customer_id=... newest first (the replaced system's index).
CREATE INDEX IF NOT EXISTS orders_customer_created_idx ON orders (customer_id, created_at);
-- GET /orders newest first without a filter, and with ?status=.
CREATE INDEX IF NOT EXISTS orders_created_idx ON orders (created_at);
CREATE INDEX IF NOT EXISTS orders_status_created_idx ON orders (status, created_at);

CREATE TABLE IF NOT EXISTS order_items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id uuid NOT NULL REFERENCES products (id),
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(12, 2) NOT NULL CHECK (unit_price >= 0)
);

-- Building an order's JSON and restoring stock on cancel read items by order.
CREATE INDEX IF NOT EXISTS order_items_order_idx ON order_items (order_id, product_id);

-- Transactional outbox: written in the order transaction, published by the
-- relay thread of any replica (FOR UPDATE SKIP LOCKED), then marked sent.
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    payload text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);

-- The relay's claim query scans only unsent rows.
CREATE INDEX IF NOT EXISTS outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;

-- Idempotency-Key outcomes, stored in the same transaction as the order and
-- kept 24 h (deleted lazily on lookup and by the relay's periodic sweep).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key text PRIMARY KEY,
    request_hash text NOT NULL,
    status integer NOT NULL,
    response text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys (created_at);
