# A dict- and string-heavy workload for /usr/bin/python3 under LD_PRELOAD:
# its output is compared with the same script run on glibc malloc.
import collections
import hashlib
import json

N = 200000
words = {}
shouted = []
for i in range(N):
    key = "key-%d-%s" % (i, "x" * (i % 37))
    words[key] = i * 3
    if i % 7 == 0:
        shouted.append(key.upper())
text = " ".join(shouted)
parts = collections.Counter(text.split("-"))

for i in range(0, N, 2):
    del words["key-%d-%s" % (i, "x" * (i % 37))]
for i in range(0, N, 4):
    words["again-%d" % i] = len(words)

nested = {str(i): {"list": list(range(i % 50)), "s": "v" * (i % 100)} for i in range(20000)}
blob = json.dumps(nested, sort_keys=True)
assert json.loads(blob) == nested

lines = sorted(("%x" % (i * 2654435761 % 2**32)) * (i % 5 + 1) for i in range(100000))
joined = "\n".join(lines)
pieces = joined.split("\n")
assert len(pieces) == len(lines)

print(len(words), sum(words.values()))
print(len(text), len(parts), parts.most_common(3))
print(hashlib.sha256(blob.encode()).hexdigest())
print(hashlib.sha256(joined.encode()).hexdigest())
print("python workload ok")
