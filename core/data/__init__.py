"""Datasets: the registry (dataset_info.json), file loading, format conversion to canonical
rows, checks, tokenization within cutoff_len (truncation.py), mixing several datasets
(mixing.py), and the data of a training run. Command line: `python -m core data --help`.

    from core.data import list_datasets, load_rows, check_dataset, load_for_training
    load_rows("dpo_en_demo", "data", "dpo").rows[0]  # {"prompt": [...], "chosen": [...], ...}

Heavy libraries (pyarrow, pandas, datasets, transformers) are imported only where used.
"""
from .checks import CheckReport, check_dataset
from .dataset import (
                      DatasetInfo,
                      DatasetRows,
                      Registration,
                      list_datasets,
                      load_rows,
                      register_file,
                      register_upload,
)
from .formats import STAGES
from .records import Problem
from .registry import add_entry, get_entry, registry_path
from .training import TrainingData, load_for_training
from .truncation import Cutoff, Cuts

__all__ = ["STAGES", "CheckReport", "Cutoff", "Cuts", "DatasetInfo", "DatasetRows", "Problem",
           "Registration",
           "TrainingData", "add_entry", "check_dataset", "get_entry", "list_datasets",
           "load_for_training", "load_rows", "register_file", "register_upload",
           "registry_path"]
