"""Run configuration: typed dataclasses (fields.py), flat YAML and overrides (run.py),
validation in one place (validate.py)."""
from . import llamafactory
from .fields import DEMO_DATASET, DEMO_MODEL, PAIRWISE_LOSSES, STAGES
from .run import FIELDS, GROUPS, ConfigError, RunConfig, field_group, split_list
from .validate import problems, validate

__all__ = ["DEMO_DATASET", "DEMO_MODEL", "FIELDS", "GROUPS", "PAIRWISE_LOSSES",
           "STAGES", "ConfigError", "RunConfig", "field_group", "problems", "split_list",
           "llamafactory", "validate"]
