-- app_sqlite_mem / app_sqlite_file: a fixed SQL load for the sqlite3 CLI, run by
-- the head-to-head runner (bench/README.md, "App experiments") in memory and on a
-- file in a temporary directory. The runner sets the row count first:
--   sqlite3 -bail -batch DB '.parameter set @rows 60000' '.read sqlite_load.sql'
-- Every query's result is deterministic; the runner compares the output byte for
-- byte with the run on glibc.
PRAGMA synchronous = OFF;   -- the file variant measures the pager, not fsync
PRAGMA cache_size = -2048;  -- 2 MiB page cache: the file variant evicts and rereads

CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, tier INTEGER);
CREATE TABLE products(id INTEGER PRIMARY KEY, sku TEXT NOT NULL, title TEXT, price INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, product INTEGER,
                    qty INTEGER, day INTEGER, note TEXT);

BEGIN;
WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < @rows / 20)
INSERT INTO customers SELECT x, printf('customer %06d %s', x * 7919 % 100003, hex(x * 31)),
  printf('city-%d', x % 113), x % 5 FROM s;
WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < @rows / 30)
INSERT INTO products SELECT x, printf('SKU-%07d', x * 104729 % 1000003),
  printf('%.*c product %d', 5 + x % 40, 'p', x), 100 + x * 37 % 90000 FROM s;
COMMIT;

-- Orders arrive in four transactions of a quarter each.
BEGIN;
WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < @rows / 4)
INSERT INTO orders SELECT x, 1 + x * 13 % (@rows / 20), 1 + x * 17 % (@rows / 30), 1 + x % 9,
  x % 365, CASE WHEN x % 4 = 0 THEN printf('%.*c', x % 200, 'n') END FROM s;
COMMIT;
BEGIN;
WITH RECURSIVE s(x) AS (SELECT @rows / 4 + 1 UNION ALL SELECT x + 1 FROM s WHERE x < @rows / 2)
INSERT INTO orders SELECT x, 1 + x * 13 % (@rows / 20), 1 + x * 17 % (@rows / 30), 1 + x % 9,
  x % 365, CASE WHEN x % 4 = 0 THEN printf('%.*c', x % 200, 'n') END FROM s;
COMMIT;
BEGIN;
WITH RECURSIVE s(x) AS (SELECT @rows / 2 + 1 UNION ALL SELECT x + 1 FROM s WHERE x < @rows * 3 / 4)
INSERT INTO orders SELECT x, 1 + x * 13 % (@rows / 20), 1 + x * 17 % (@rows / 30), 1 + x % 9,
  x % 365, CASE WHEN x % 4 = 0 THEN printf('%.*c', x % 200, 'n') END FROM s;
COMMIT;
BEGIN;
WITH RECURSIVE s(x) AS (SELECT @rows * 3 / 4 + 1 UNION ALL SELECT x + 1 FROM s WHERE x < @rows)
INSERT INTO orders SELECT x, 1 + x * 13 % (@rows / 20), 1 + x * 17 % (@rows / 30), 1 + x % 9,
  x % 365, CASE WHEN x % 4 = 0 THEN printf('%.*c', x % 200, 'n') END FROM s;
COMMIT;

CREATE UNIQUE INDEX products_sku ON products(sku);
CREATE INDEX customers_city ON customers(city, tier);
CREATE INDEX orders_customer ON orders(customer, day);
CREATE INDEX orders_product ON orders(product);

SELECT count(*), sum(qty), sum(length(note)) FROM orders;

-- Revenue per city and tier: a three-way join with grouping.
SELECT c.city, c.tier, count(*), sum(o.qty * p.price)
FROM orders o JOIN customers c ON c.id = o.customer JOIN products p ON p.id = o.product
GROUP BY c.city, c.tier ORDER BY 4 DESC, 1, 2 LIMIT 8;

-- Best sellers, by a grouping on an expression (a temporary b-tree).
SELECT substr(p.sku, 1, 6), count(DISTINCT o.customer), sum(o.qty)
FROM orders o JOIN products p ON p.id = o.product
GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT 5;

-- Price changes and cancellations inside one transaction.
BEGIN;
UPDATE products SET price = price * 11 / 10, title = upper(title) WHERE id % 3 = 0;
UPDATE orders SET note = coalesce(note, '') || ' changed' WHERE day % 7 = 0;
DELETE FROM orders WHERE id % 11 = 0;
COMMIT;

-- Customers ranked by spending, with a window function over a grouped join.
SELECT name, spent, rnk FROM (
  SELECT c.name AS name, sum(o.qty * p.price) AS spent,
         rank() OVER (ORDER BY sum(o.qty * p.price) DESC, c.name) AS rnk
  FROM customers c JOIN orders o ON o.customer = c.id JOIN products p ON p.id = o.product
  GROUP BY c.id)
WHERE rnk <= 5 ORDER BY rnk;

-- A self-join on the day and a string aggregate over a sorted subquery.
SELECT count(*) FROM orders a JOIN orders b ON b.customer = a.customer AND b.day = a.day + 1;
SELECT length(group_concat(title, ';')), substr(group_concat(title, ';'), 1, 60)
FROM (SELECT title FROM products ORDER BY title DESC LIMIT 2000);

SELECT count(*), sum(qty), max(length(note)) FROM orders;
PRAGMA integrity_check;
