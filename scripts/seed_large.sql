-- Large catalog for benchmarks: 100,000 products and 10,000 customers, set
-- based (generate_series), in seconds. Run after scripts/seed.sql (creates
-- the 6 categories itself if they are missing). SKUs SKU-L000001.. and
-- e-mails userNNNNN@example.com make it idempotent: rows already there are
-- skipped (ON CONFLICT DO NOTHING).
BEGIN;

INSERT INTO categories (name, description)
SELECT v.name, '' FROM (VALUES ('Electronics'), ('Clothing'), ('Home & Kitchen'), ('Books'),
                               ('Sports'), ('Toys')) AS v(name)
WHERE NOT EXISTS (SELECT 1 FROM categories);

WITH cats AS (SELECT array_agg(id ORDER BY name) AS ids FROM categories),
     adj AS (SELECT ARRAY['Premium','Ultra','Pro','Classic','Deluxe','Essential','Smart','Eco',
                          'Compact','Portable','Vintage','Modern','Rugged','Luxury','Basic','Advanced'] AS a),
     item AS (SELECT ARRAY['Headphones','Speaker','Keyboard','Mouse','Monitor','Webcam','Charger','Smartwatch',
                           'T-Shirt','Jacket','Jeans','Sneakers','Hoodie','Scarf','Cap','Socks',
                           'Blender','Coffee Maker','Knife Set','Toaster','Cookware Set','Lamp','Kettle','Cutting Board',
                           'Novel','Cookbook','Biography','Atlas','Notebook','Poetry Collection','Travel Guide','Science Textbook',
                           'Yoga Mat','Dumbbell Set','Running Shoes','Tennis Racket','Water Bottle','Bicycle Helmet','Jump Rope','Football',
                           'Puzzle','Building Blocks','Action Figure','Board Game','Teddy Bear','Race Car','Kite','Doll House'] AS i)
INSERT INTO products (name, description, price, stock, sku, category_id)
SELECT adj.a[1 + (g * 7) % 16] || ' ' || item.i[1 + g % 48] || ' ' || (g % 9973)::text,
       'Benchmark product ' || g,
       9.99 + (g * 3761 % 29001) / 100.0,
       -- about 5% out of stock, so in_stock=true filters something
       CASE WHEN g % 20 = 0 THEN 0 ELSE 10 + (g * 7331 % 491) END,
       'SKU-L' || lpad(g::text, 6, '0'),
       cats.ids[1 + (g / 8) % array_length(cats.ids, 1)]
FROM generate_series(1, 100000) AS g, cats, adj, item
ON CONFLICT DO NOTHING;

INSERT INTO customers (email, name)
SELECT 'user' || lpad(g::text, 5, '0') || '@example.com', 'Customer ' || g
FROM generate_series(1, 10000) AS g
ON CONFLICT DO NOTHING;

COMMIT;
VACUUM ANALYZE categories;
VACUUM ANALYZE products;
VACUUM ANALYZE customers;
