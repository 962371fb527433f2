-- Sample data of API.md: 6 categories, 48 products "<Adjective> <Item>"
-- (prices 9.99-299.99, stock 10-500, SKU-01000...), 10 customers.
-- Each table is only filled when it is empty, so running this twice is harmless.
-- Values are deterministic (no random()): every dev stack has the same catalog.
BEGIN;

INSERT INTO categories (name, description)
SELECT v.name, v.description
FROM (VALUES
    ('Electronics', 'Gadgets, audio and computer accessories'),
    ('Clothing', 'Apparel and footwear'),
    ('Home & Kitchen', 'Appliances, cookware and home goods'),
    ('Books', 'Fiction, non-fiction and stationery'),
    ('Sports', 'Fitness and outdoor equipment'),
    ('Toys', 'Games and toys for all ages')) AS v(name, description)
WHERE NOT EXISTS (SELECT 1 FROM categories);

-- 8 items per category, each with one of 8 adjectives.
INSERT INTO products (name, description, price, stock, sku, category_id)
SELECT a.adj || ' ' || i.item,
       'A ' || lower(a.adj) || ' ' || lower(i.item) || ' from our ' || c.name || ' range.',
       -- 9.99 .. 299.99, spread without randomness
       9.99 + ((i.n * 8 + i.k) * 3761 % 29001) / 100.0,
       10 + ((i.n * 8 + i.k) * 7331 % 491),
       'SKU-' || lpad((1000 + i.n * 8 + i.k)::text, 5, '0'),
       c.id
FROM (VALUES
    (0, 'Electronics', ARRAY['Headphones','Speaker','Keyboard','Mouse','Monitor','Webcam','Charger','Smartwatch']),
    (1, 'Clothing', ARRAY['T-Shirt','Jacket','Jeans','Sneakers','Hoodie','Scarf','Cap','Socks']),
    (2, 'Home & Kitchen', ARRAY['Blender','Coffee Maker','Knife Set','Toaster','Cookware Set','Lamp','Kettle','Cutting Board']),
    (3, 'Books', ARRAY['Novel','Cookbook','Biography','Atlas','Notebook','Poetry Collection','Travel Guide','Science Textbook']),
    (4, 'Sports', ARRAY['Yoga Mat','Dumbbell Set','Running Shoes','Tennis Racket','Water Bottle','Bicycle Helmet','Jump Rope','Football']),
    (5, 'Toys', ARRAY['Puzzle','Building Blocks','Action Figure','Board Game','Teddy Bear','Race Car','Kite','Doll House'])
) AS cat(n, cname, items)
CROSS JOIN LATERAL (SELECT cat.n, k - 1 AS k, cat.items[k] AS item FROM generate_series(1, 8) AS k) i
JOIN categories c ON c.name = cat.cname
CROSS JOIN LATERAL (SELECT (ARRAY['Premium','Ultra','Pro','Classic','Deluxe','Essential','Smart','Eco'])[1 + (i.k + i.n) % 8] AS adj) a
WHERE NOT EXISTS (SELECT 1 FROM products);

INSERT INTO customers (email, name)
SELECT v.email, v.name
FROM (VALUES
    ('alice@example.com', 'Alice Johnson'),
    ('bob@example.com', 'Bob Smith'),
    ('carol@example.com', 'Carol Williams'),
    ('dave@example.com', 'Dave Brown'),
    ('eve@example.com', 'Eve Davis'),
    ('frank@example.com', 'Frank Miller'),
    ('grace@example.com', 'Grace Wilson'),
    ('heidi@example.com', 'Heidi Moore'),
    ('ivan@example.com', 'Ivan Taylor'),
    ('judy@example.com', 'Judy Anderson')) AS v(email, name)
WHERE NOT EXISTS (SELECT 1 FROM customers);

COMMIT;
ANALYZE categories;
ANALYZE products;
ANALYZE customers;
