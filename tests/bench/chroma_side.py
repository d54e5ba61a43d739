#!/usr/bin/env python3
"""ChromaDB's side of `aios-bench chroma` (tests/src/bench/sidebyside.rs).

Run by the bench from its own venv (~/.cache/aios-bench-venv, `pip install chromadb==1.5.9`),
never by CI. Prints one JSON object as its last line.

  chroma_side.py corpus DIR   ingest DIR/docs.jsonl + DIR/vectors.f32 into a PersistentClient
                              under DIR/chroma (cosine, batches of 1,000, vectors given), then
                              the queries of DIR/queries.jsonl + DIR/qvectors.f32: unfiltered,
                              where kind=, kind + time range, where_document $contains
  chroma_side.py eval FILE    nDCG@10 of ChromaDB's vector query on the evaluation set that
                              `aios-bench memory-eval` exported with all-MiniLM-L6-v2 vectors

`$contains` is ChromaDB's substring rule. The corpus's words are `w` + 4 digits, so a word
never occurs inside another and the substring rule selects the same documents as our word
rule.
"""

import json
import math
import os
import resource
import shutil
import sys
import time

import chromadb
import numpy as np
import psutil

DIM = 384
BATCH = 1000


def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    return sorted_ms[((len(sorted_ms) - 1) * p) // 100]


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def collection(client, name):
    return client.create_collection(name=name, metadata={"hnsw:space": "cosine"})


def corpus(d):
    with open(os.path.join(d, "docs.jsonl")) as f:
        docs = [json.loads(line) for line in f]
    vectors = np.fromfile(os.path.join(d, "vectors.f32"), dtype="<f4").reshape(-1, DIM)
    with open(os.path.join(d, "queries.jsonl")) as f:
        queries = [json.loads(line) for line in f]
    qvectors = np.fromfile(os.path.join(d, "qvectors.f32"), dtype="<f4").reshape(-1, DIM)
    path = os.path.join(d, "chroma")
    shutil.rmtree(path, ignore_errors=True)
    client = chromadb.PersistentClient(path=path)
    col = collection(client, "bench")
    t = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        chunk = docs[i:i + BATCH]
        col.add(
            ids=[x["id"] for x in chunk],
            documents=[x["text"] for x in chunk],
            metadatas=[{"kind": x["kind"], "unix_ms": x["unix_ms"]} for x in chunk],
            embeddings=vectors[i:i + BATCH],
        )
    ingest = time.perf_counter() - t
    out = {"n": len(docs), "ingest_docs_s": len(docs) / ingest}
    recall = 0.0
    for case in ["unfiltered", "kind", "kind_time", "contains"]:
        times = []
        for q, v in zip(queries, qvectors):
            kw = {}
            if case == "kind":
                kw["where"] = {"kind": q["kind"]}
            elif case == "kind_time":
                kw["where"] = {"$and": [{"kind": q["kind"]}, {"unix_ms": {"$gte": q["since"]}},
                                        {"unix_ms": {"$lt": q["until"]}}]}
            elif case == "contains":
                kw["where_document"] = {"$contains": q["word"]}
            t = time.perf_counter()
            r = col.query(query_embeddings=[v], n_results=10, include=["distances"], **kw)
            times.append((time.perf_counter() - t) * 1e3)
            if case == "unfiltered":
                truth = set(q["truth"])
                recall += len(truth.intersection(r["ids"][0])) / max(len(truth), 1)
        times.sort()
        out[case] = {"p50_ms": pct(times, 50), "p99_ms": pct(times, 99)}
    out["recall10"] = recall / max(len(queries), 1)
    out["rss_kib"] = psutil.Process().memory_info().rss // 1024
    out["hwm_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del col
    del client
    out["disk_bytes"] = dir_size(path)
    shutil.rmtree(path, ignore_errors=True)
    return out


def ndcg(ranked, relevant, k=10):
    gain = lambda g: (1 << g) - 1
    dcg = sum(gain(relevant.get(i, 0)) / math.log2(n + 2) for n, i in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain(g) / math.log2(n + 2) for n, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def evaluate(path):
    with open(path) as f:
        data = json.load(f)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(path=tmp)
        col = collection(client, "eval")
        docs = data["docs"]
        col.add(ids=[d["id"] for d in docs], documents=[d["text"] for d in docs],
                metadatas=[{"kind": d["kind"]} for d in docs],
                embeddings=np.array([d["vector"] for d in docs], dtype=np.float32))
        total = 0.0
        for q in data["queries"]:
            r = col.query(query_embeddings=[np.array(q["vector"], dtype=np.float32)], n_results=10)
            total += ndcg(r["ids"][0], q["relevant"])
        return {"ndcg10": total / len(data["queries"]), "queries": len(data["queries"])}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("corpus", "eval"):
        sys.exit("usage: chroma_side.py corpus DIR | eval FILE")
    out = corpus(sys.argv[2]) if sys.argv[1] == "corpus" else evaluate(sys.argv[2])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
