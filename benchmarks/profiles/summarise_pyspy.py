import sys, collections, re
path = sys.argv[1]
total = 0
by_thread = collections.Counter(); self_fn = collections.Counter(); incl = collections.Counter()
for line in open(path):
    line = line.rstrip("\n")
    if not line: continue
    stack, _, count = line.rpartition(" ")
    n = int(count); total += n
    frames = stack.split(";")
    by_thread[frames[0]] += n
    self_fn[frames[-1]] += n
    seen = set()
    for f in frames[1:]:
        key = re.sub(r" \(.*?:\d+\)$", "", f) if False else f
        name = re.sub(r":\d+\)$", ")", f)
        if name not in seen:
            seen.add(name); incl[name] += n
print("total samples", total)
for t, n in by_thread.most_common(8): print(f"{n/total:6.1%} thread {t}")
print("--- inclusive (top)")
for f, n in incl.most_common(60):
    if any(k in f for k in ("astrolens", "onnx", "PIL", "sqlite", "peewee", "numpy", "imagehash", "hashlib", "threadpool")):
        print(f"{n/total:6.1%} {f}")
print("--- self")
for f, n in self_fn.most_common(25): print(f"{n/total:6.1%} {f}")
