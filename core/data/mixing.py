"""Several datasets as one, and the held-out split, as LLaMA-Factory's merge_dataset and
split_dataset do them.

    order = mix([3, 5], "interleave_under", [0.5, 0.5], seed=42)   # [(dataset, record), ...]
    train, held = hold_out(len(order), 0.1, seed=42)               # positions in `order`

mix_strategy: concat (one after the other), interleave_under (stop when the first dataset
runs out), interleave_over (repeat the shorter ones until every dataset has been seen in
full), interleave_once (each record at most once, until all run out); interleave_probs picks
the next dataset's share (empty: take them in turn). The unit is a record, as a row of
LLaMA-Factory's aligned dataset is; records a stage cannot use are left out afterwards, as
LLaMA-Factory's processors leave them out after merging and splitting. Both functions run
the datasets library's own interleave_datasets and train_test_split on record positions, so
the same seed chooses the same records as LLaMA-Factory (which has no streaming here).
"""
from __future__ import annotations

from core.errors import UserError

STOPPING = {"interleave_under": "first_exhausted", "interleave_over": "all_exhausted",
            "interleave_once": "all_exhausted_without_replacement"}


def _positions(d: int, n: int):
    import datasets

    features = datasets.Features({"d": datasets.Value("int64"), "i": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"d": [d] * n, "i": list(range(n))}, features=features)


def mix(sizes: list[int], strategy: str, probs: list[float] | None,
        seed: int) -> list[tuple[int, int]]:
    """(dataset, record) pairs in the merged order of datasets with `sizes` records."""
    if len(sizes) == 1 or strategy == "concat":
        return [(d, i) for d, n in enumerate(sizes) for i in range(n)]
    if strategy not in STOPPING:
        raise UserError(f"mix_strategy: unknown {strategy!r}; use concat, "
                        f"{', '.join(STOPPING)}")
    if probs and len(probs) != len(sizes):
        raise UserError(f"interleave_probs: {len(probs)} values for {len(sizes)} datasets; give "
                        "one per dataset, in the order of dataset (and of eval_dataset)")
    import datasets

    try:
        merged = datasets.interleave_datasets([_positions(d, n) for d, n in enumerate(sizes)],
                                              probabilities=probs or None, seed=seed,
                                              stopping_strategy=STOPPING[strategy])
    except ValueError as e:  # probabilities that do not sum to 1, ...
        raise UserError(f"interleave_probs {probs}: {e}") from None
    return list(zip(merged["d"], merged["i"]))


def hold_out(n: int, val_size: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) positions of n records: val_size is a share below 1 or a count."""
    import math

    held = int(val_size) if val_size >= 1 else math.ceil(val_size * n)
    if held >= n:
        raise UserError(f"val_size {val_size} holds out {held} of {n} records, leaving none to "
                        "train; lower val_size")
    split = _positions(0, n).train_test_split(test_size=int(val_size) if val_size >= 1
                                              else val_size, seed=seed)
    return list(split["train"]["i"]), list(split["test"]["i"])
