"""The demo run a new Train form starts from (examples/dpo_demo.yaml), and which of its values
are tuned for the demo's tiny model and small data rather than for training in general.

    demo_config()                     # the example, without output_dir/run_name
    demo_tuned()                      # {"learning_rate": 5e-4, "lora_rank": 16, ...}
    leave_demo(values)                # {key: default} once `values` train something else
    defaults_for(model, dataset, dataset_dir)   # what "reset to defaults" gives

The tuned values are found, not listed: every key where the example differs from the
RunConfig defaults, except where the run goes (output_dir, run_name) and what makes it the
demo (model and dataset). A learning rate of 5e-4 trains the 2M-parameter demo model in a few
minutes; on a real model it makes the loss diverge, so it must not follow the user there.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from core.errors import UserError
from core.paths import PROJECT_ROOT

from .choices import DEMO_DATASET, DEMO_MODEL
from .run import RunConfig, split_list

log = logging.getLogger(__name__)

DEMO_EXAMPLE = PROJECT_ROOT / "examples" / "dpo_demo.yaml"
IDENTITY = ("model_name_or_path", "dataset")  # what makes a config the demo
PLACEMENT = ("output_dir", "run_name")  # each Start makes a new run


@functools.lru_cache(maxsize=1)
def _example() -> RunConfig:
    try:
        cfg = RunConfig.load(DEMO_EXAMPLE)
    except UserError as e:  # ConfigError too
        log.warning("Using the config defaults for the demo: %s", e)
        return RunConfig()
    return cfg.replace(**{k: None for k in PLACEMENT})


def demo_config() -> RunConfig:
    """examples/dpo_demo.yaml without its output_dir/run_name; the RunConfig defaults when the
    example is missing or broken."""
    return _example().replace()


def trains_demo(model: Any, dataset: Any) -> bool:
    """Whether a model and dataset (comma-separated or a list) are the demo's."""
    names = split_list(",".join(dataset) if isinstance(dataset, (list, tuple)) else dataset)
    return model == DEMO_MODEL and names == [DEMO_DATASET]


def demo_tuned() -> dict[str, Any]:
    """The example's values that differ from the RunConfig defaults, identity and placement
    left out: the ones tuned for the demo."""
    demo, default = _example().to_dict(), RunConfig().to_dict()
    return {k: v for k, v in demo.items()
            if v != default[k] and k not in IDENTITY + PLACEMENT}


def leave_demo(values: Mapping[str, Any]) -> dict[str, Any]:
    """{key: config default} for every demo-tuned value that `values` (typed config values)
    still hold when their model or dataset is no longer the demo's; {} while it is. A value
    the user changed away from the demo's stays."""
    if trains_demo(values.get("model_name_or_path"), values.get("dataset")):
        return {}
    default = RunConfig()
    return {k: getattr(default, k) for k, v in demo_tuned().items()
            if k in values and values[k] == v}


def defaults_for(model: str, dataset: str | None, dataset_dir: str) -> RunConfig:
    """What "reset to defaults" gives: the model and data kept, everything else the demo's
    values while they are the demo's, else the RunConfig defaults."""
    if trains_demo(model, dataset):
        return demo_config().replace(dataset_dir=dataset_dir)
    return RunConfig(model_name_or_path=model, dataset=dataset or RunConfig().dataset,
                     dataset_dir=dataset_dir)
