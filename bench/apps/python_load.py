# app_python: a CPU-bound /usr/bin/python3 load for the head-to-head runner
# (bench/README.md, "App experiments"). It builds and rebuilds many small
# objects, dicts, lists and strings, the allocation pattern of ordinary Python
# programs, and prints a checksum that depends only on the computation: the
# runner compares it byte for byte with the run on glibc.
#
# Usage: python3 -s -B python_load.py [SCALE]   (SCALE 1.0: about 2 s on glibc)
import sys
import zlib

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


class Order:
    def __init__(self, oid, customer, items):
        self.oid = oid
        self.customer = customer
        self.items = items  # list of (sku, quantity, cents)
        self.tags = {}

    def total(self):
        return sum(q * c for _, q, c in self.items)


def make_orders(n, seed):
    x = seed
    orders = []
    for oid in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        items = []
        for k in range(1 + x % 6):
            sku = "sku-%05d-%s" % ((x >> 3) % 5000 + k, "abcdefgh"[: 1 + (x + k) % 8])
            items.append((sku, 1 + (x >> (k + 2)) % 9, 99 + (x >> 7) % 20000))
        order = Order(oid, "cust-%d" % ((x >> 5) % 3000), items)
        if x % 3 == 0:
            order.tags["gift"] = "yes"
        if x % 5 == 0:
            order.tags["note"] = "leave at door " * (1 + x % 4)
        orders.append(order)
    return orders


def summarise(orders):
    by_customer = {}
    by_sku = {}
    for o in orders:
        stats = by_customer.setdefault(o.customer, [0, 0, []])
        stats[0] += 1
        stats[1] += o.total()
        stats[2].append(o.oid)
        for sku, q, _ in o.items:
            by_sku[sku] = by_sku.get(sku, 0) + q
    top = sorted(by_customer.items(), key=lambda kv: (-kv[1][1], kv[0]))[:20]
    best = sorted(by_sku.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    return top, best, len(by_customer), len(by_sku)


def render(orders):
    lines = []
    for o in orders:
        fields = [str(o.oid), o.customer, "%d.%02d" % divmod(o.total(), 100)]
        fields.extend("%s*%d" % (sku, q) for sku, q, _ in o.items)
        fields.extend("%s=%s" % kv for kv in sorted(o.tags.items()))
        lines.append("|".join(fields))
    return "\n".join(lines)


def parse(text):
    totals = {}
    for line in text.split("\n"):
        parts = line.split("|")
        cents = int(parts[2].replace(".", ""))
        words = [p.partition("*")[0].upper() for p in parts[3:] if "*" in p]
        totals[parts[1]] = totals.get(parts[1], 0) + cents + len(" ".join(words))
    return totals


def word_graph(text, rounds):
    # A dict of lists keyed by every word pair: many short strings and tuples.
    words = text.replace("|", " ").replace("*", " ").split()
    graph = {}
    for r in range(rounds):
        for a, b in zip(words[r::7], words[r + 1::7]):
            graph.setdefault(a, []).append(b)
        for key in list(graph)[:: 3 + r]:
            del graph[key]
    return sum(len(v) for v in graph.values()), len(graph)


def main():
    crc = 0
    batches = max(1, int(16 * SCALE))
    size = 6000 if SCALE >= 0.25 else 800
    survivors = []
    for b in range(batches):
        orders = make_orders(size, 17 + b)
        top, best, customers, skus = summarise(orders)
        text = render(orders)
        totals = parse(text)
        pairs, keys = word_graph(text, 3)
        # Some objects outlive their batch, as caches in real programs do.
        survivors.extend(orders[:: 50])
        survivors = survivors[-2000:]
        digest = repr((top[:5], best[:5], customers, skus, len(totals), pairs, keys))
        crc = zlib.crc32(digest.encode(), crc)
        crc = zlib.crc32(text.encode(), crc)
    kept = sum(o.total() for o in survivors)
    print("app_python batches=%d orders=%d crc=%08x kept=%d" % (batches, batches * size, crc, kept))


main()
