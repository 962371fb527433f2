-- catalog-svc schema: categories and products (DESIGN §4).
-- pg_trgm is a trusted extension (PG13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE IF NOT EXISTS categories (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        varchar(100) NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_name_key UNIQUE (name)
);

CREATE TABLE IF NOT EXISTS products (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        varchar(200) NOT NULL,
    description text NOT NULL DEFAULT '',
    price       numeric(12,2) NOT NULL CONSTRAINT products_price_check CHECK (price > 0),
    stock       integer NOT NULL DEFAULT 0 CONSTRAINT products_stock_check CHECK (stock >= 0),
    sku         varchar(50) NOT NULL,
    category_id uuid CONSTRAINT products_category_id_fkey REFERENCES categories (id),
    is_active   boolean NOT NULL DEFAULT true,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_sku_key UNIQUE (sku)
);

-- Each index serves one query of catalog_sql.c:
-- list filtered by category (WHERE category_id = $1 AND is_active), and
-- categories' product_count (count of active products per category).
CREATE INDEX IF NOT EXISTS ix_products_category_active ON products (category_id, is_active);
-- list filtered by price range (WHERE is_active AND price BETWEEN ...).
CREATE INDEX IF NOT EXISTS ix_products_active_price ON products (is_active, price);
-- the default list: WHERE is_active ORDER BY name, id LIMIT n (no sort of the table).
CREATE INDEX IF NOT EXISTS ix_products_active_name ON products (is_active, name, id);
-- search=: name ILIKE '%term%' uses the trigram index instead of scanning.
CREATE INDEX IF NOT EXISTS ix_products_name_trgm ON products USING gin (name gin_trgm_ops);

-- Every writer (catalog-svc's PUT/DELETE, order-svc's stock updates) bumps
-- version and updated_at. OLD.version + 1 (not NEW) so a writer that already
-- says version = version + 1 is not counted twice.
CREATE OR REPLACE FUNCTION products_bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS products_bump_version ON products;
CREATE TRIGGER products_bump_version BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION products_bump_version();
