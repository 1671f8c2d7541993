-- sqlite3 under LD_PRELOAD: output compared with the same script on glibc malloc.
PRAGMA synchronous = OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, printf('name-%08d', x * 7919 % 1000003), x % 97, zeroblob(x % 300)
FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, name);
SELECT count(*), sum(grp), sum(length(payload)) FROM t;
SELECT grp, count(*), min(name), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT count(*) FROM t a JOIN t b ON a.grp = b.grp AND a.id = b.id + 97;
UPDATE t SET name = upper(name) || '-u' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(id), max(length(name)) FROM t;
SELECT substr(group_concat(name, ','), 1, 80) FROM (SELECT name FROM t ORDER BY name DESC LIMIT 1000);
VACUUM;
PRAGMA integrity_check;
