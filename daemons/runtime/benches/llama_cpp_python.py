"""The peer of `cargo bench -p aios-runtime --bench throughput`:
llama-cpp-python (the llama.cpp build most Python tools embed) on the same
GGUF file, threads and token counts, measured the same way: the prompt of
PP tokens is evaluated from an empty cache, then TG tokens are sampled
greedily one by one. Prints one JSON object: {"pp": tok/s, "tg": tok/s}
(medians over RUNS).

Usage: python3 llama_cpp_python.py MODEL THREADS PP TG RUNS
"""

import json
import statistics
import sys
import time

import llama_cpp


def main() -> None:
    model, threads, pp, tg, runs = sys.argv[1], *map(int, sys.argv[2:6])
    llm = llama_cpp.Llama(
        model_path=model,
        n_ctx=pp + tg + 64,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        verbose=False,
    )
    pps, tgs = [], []
    for run in range(runs):
        text = f"Run {run}."
        while len(llm.tokenize(text.encode())) < pp:
            text += " the quick brown fox jumps over the lazy dog"
        tokens = llm.tokenize(text.encode())
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens)
        pps.append(len(tokens) / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(tg):
            token = llm.sample(temp=0.0)
            llm.eval([token])
        tgs.append(tg / (time.perf_counter() - start))
    print(json.dumps({"pp": statistics.median(pps), "tg": statistics.median(tgs)}))


if __name__ == "__main__":
    main()
