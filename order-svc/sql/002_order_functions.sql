-- The order operations run inside PostgreSQL so that each request is one
-- round trip (orders/s is bounded by commit latency, not by chatter). Each
-- function runs in the caller's single-statement transaction: an exception
-- rolls back everything it did.
--
-- Business errors are raised with private SQLSTATEs so the service can tell
-- them from real failures without parsing text:
--   SM404  not found (message is the API's detail text)
--   SM400  insufficient stock (message is the API's detail text)

-- RFC 3339 UTC with microseconds, as API.md shows.
CREATE OR REPLACE FUNCTION order_ts(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The API's order object. NULL when the order does not exist.
CREATE OR REPLACE FUNCTION order_json(p_id uuid) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', o.id,
        'customer_id', o.customer_id,
        'customer_name', c.name,
        'status', o.status,
        'total', o.total,
        'items', COALESCE((
            SELECT json_agg(json_build_object(
                       'id', i.id,
                       'product_id', i.product_id,
                       'product_name', p.name,
                       'quantity', i.quantity,
                       'unit_price', i.unit_price) ORDER BY i.product_id, i.id)
              FROM order_items i JOIN products p ON p.id = i.product_id
             WHERE i.order_id = o.id), '[]'::json),
        'created_at', order_ts(o.created_at),
        'updated_at', order_ts(o.updated_at))
      FROM orders o JOIN customers c ON c.id = o.customer_id
     WHERE o.id = p_id
$$;

-- Places an order. p_products must be distinct and sorted (the service
-- merges and sorts lines) so concurrent orders lock products in the same
-- order and cannot deadlock. Returns the order JSON text.
CREATE OR REPLACE FUNCTION order_place(p_customer uuid, p_products uuid[], p_qty integer[],
                                       OUT o_body text, OUT o_outbox_id bigint,
                                       OUT o_event text)
LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := COALESCE(array_length(p_products, 1), 0);
    v_prices numeric[] := '{}';
    v_total numeric(12, 2) := 0;
    v_price numeric;
    v_name text;
    v_stock integer;
    v_active boolean;
    v_order uuid;
    v_try integer;
BEGIN
    IF v_n = 0 OR v_n <> COALESCE(array_length(p_qty, 1), 0) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'order_place: bad line arrays';
    END IF;

    PERFORM 1 FROM customers WHERE id = p_customer;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SM404', MESSAGE = 'Customer not found';
    END IF;

    FOR i IN 1 .. v_n LOOP
        v_try := 0;
        LOOP
            -- The guard is the whole no-oversell argument: the row lock
            -- serialises concurrent decrements and the WHERE is re-checked
            -- on the newest row version.
            UPDATE products
               SET stock = stock - p_qty[i], version = version + 1, updated_at = now()
             WHERE id = p_products[i] AND stock >= p_qty[i] AND is_active
            RETURNING price INTO v_price;
            EXIT WHEN FOUND;

            SELECT name, stock, is_active INTO v_name, v_stock, v_active
              FROM products WHERE id = p_products[i];
            IF NOT FOUND OR NOT v_active THEN
                RAISE EXCEPTION USING ERRCODE = 'SM404',
                    MESSAGE = format('Product %s not found', p_products[i]);
            END IF;
            -- Enough stock now means a cancel restored some in between:
            -- try again rather than report a contradiction.
            v_try := v_try + 1;
            IF v_stock < p_qty[i] OR v_try >= 3 THEN
                RAISE EXCEPTION USING ERRCODE = 'SM400',
                    MESSAGE = format('Insufficient stock for %s: available=%s, requested=%s',
                                     v_name, v_stock, p_qty[i]);
            END IF;
        END LOOP;
        v_prices[i] := v_price;
        v_total := v_total + v_price * p_qty[i];
    END LOOP;

    INSERT INTO orders (customer_id, total) VALUES (p_customer, v_total)
    RETURNING id INTO v_order;

    INSERT INTO order_items (order_id, product_id, quantity, unit_price)
    SELECT v_order, t.p, t.q, t.pr
      FROM unnest(p_products, p_qty, v_prices) AS t(p, q, pr);

    o_event := json_build_object('product_ids', p_products)::text;
    INSERT INTO outbox (topic, payload) VALUES ('stock.changed', o_event)
    RETURNING id INTO o_outbox_id;

    o_body := order_json(v_order)::text;
END
$$;

-- order_place behind an Idempotency-Key. The outcome (success or business
-- error) is stored in the same transaction. A transaction-scoped advisory
-- lock on the key makes a concurrent duplicate see "still running" (409)
-- instead of racing; once the first commits, retries replay its outcome.
CREATE OR REPLACE FUNCTION order_place_idem(p_key text, p_request text, p_customer uuid,
                                            p_products uuid[], p_qty integer[],
                                            OUT o_code integer, OUT o_body text,
                                            OUT o_outbox_id bigint, OUT o_event text)
LANGUAGE plpgsql AS $$
DECLARE
    v_hash text := md5(p_request);
    v_row idempotency_keys%ROWTYPE;
    v_state text;
    v_msg text;
BEGIN
    -- 21325 ('SM') namespaces these locks away from one-key advisory locks.
    IF NOT pg_try_advisory_xact_lock(21325, hashtext(p_key)) THEN
        o_code := 409;
        o_body := json_build_object('detail',
            'A request with this Idempotency-Key is still being processed')::text;
        RETURN;
    END IF;

    SELECT * INTO v_row FROM idempotency_keys WHERE key = p_key;
    IF FOUND THEN
        IF v_row.created_at < now() - interval '24 hours' THEN
            DELETE FROM idempotency_keys WHERE key = p_key;
        ELSIF v_row.request_hash <> v_hash THEN
            o_code := 422;
            o_body := json_build_object('detail', json_build_array(json_build_object(
                'loc', json_build_array('header', 'Idempotency-Key'),
                'msg', 'Idempotency-Key was already used with a different request body',
                'type', 'value_error')))::text;
            RETURN;
        ELSE
            o_code := v_row.status;
            o_body := v_row.response;
            RETURN;
        END IF;
    END IF;

    BEGIN
        SELECT * INTO o_body, o_outbox_id, o_event
          FROM order_place(p_customer, p_products, p_qty);
        o_code := 201;
    EXCEPTION WHEN SQLSTATE 'SM404' OR SQLSTATE 'SM400' THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
        o_code := CASE v_state WHEN 'SM404' THEN 404 ELSE 400 END;
        o_body := json_build_object('detail', v_msg)::text;
    END;

    INSERT INTO idempotency_keys (key, request_hash, status, response)
    VALUES (p_key, v_hash, o_code, o_body);
END
$$;

-- Moves an order along the transition table. Returns the HTTP status and
-- body (and, for a cancel, the outbox row it wrote). The guarded UPDATE (status must be one of the allowed predecessors)
-- makes a cancel restore stock exactly once even when cancels race: the
-- loser re-checks the committed row, sees 'cancelled' and is a no-op.
CREATE OR REPLACE FUNCTION order_set_status(p_id uuid, p_status text,
                                            OUT o_code integer, OUT o_body text,
                                            OUT o_outbox_id bigint, OUT o_event text)
LANGUAGE plpgsql AS $$
DECLARE
    v_from text[] := CASE p_status
        WHEN 'confirmed' THEN ARRAY['pending']
        WHEN 'shipped' THEN ARRAY['confirmed']
        WHEN 'delivered' THEN ARRAY['shipped']
        WHEN 'cancelled' THEN ARRAY['pending', 'confirmed']
        ELSE ARRAY[]::text[] END;
    v_cur text;
    v_pids uuid[] := '{}';
    r record;
BEGIN
    UPDATE orders SET status = p_status, updated_at = now()
     WHERE id = p_id AND status = ANY (v_from)
    RETURNING status INTO v_cur;

    IF FOUND THEN
        IF p_status = 'cancelled' THEN
            -- Product-id order, like order_place, so restores and orders
            -- never wait on each other in a cycle.
            FOR r IN SELECT product_id, sum(quantity)::integer AS q
                       FROM order_items WHERE order_id = p_id
                      GROUP BY product_id ORDER BY product_id LOOP
                UPDATE products
                   SET stock = stock + r.q, version = version + 1, updated_at = now()
                 WHERE id = r.product_id;
                v_pids := v_pids || r.product_id;
            END LOOP;
            o_event := json_build_object('product_ids', v_pids)::text;
            INSERT INTO outbox (topic, payload) VALUES ('stock.changed', o_event)
            RETURNING id INTO o_outbox_id;
        END IF;
        o_code := 200;
        o_body := json_build_object('id', p_id, 'status', p_status)::text;
        RETURN;
    END IF;

    SELECT status INTO v_cur FROM orders WHERE id = p_id;
    IF NOT FOUND THEN
        o_code := 404;
        o_body := json_build_object('detail', 'Order not found')::text;
    ELSIF v_cur = p_status THEN
        o_code := 200;
        o_body := json_build_object('id', p_id, 'status', v_cur)::text;
    ELSE
        o_code := 409;
        o_body := json_build_object('detail',
            format('Cannot change status from %s to %s', v_cur, p_status))::text;
    END IF;
END
$$;
