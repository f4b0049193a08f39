"""Run configuration: typed dataclasses (fields.py), flat YAML and overrides (run.py),
validation in one place (validate.py), the pairwise losses' traits (losses.py), typed values
from text (values.py) and how each LLaMA-Factory key is treated (llamafactory.py)."""
from . import llamafactory
from .choices import DEMO_DATASET, DEMO_MODEL, MODEL_SUGGESTIONS, STAGES
from .losses import LOSS_TRAITS, PAIRWISE_LOSSES, LossTraits
from .run import FIELDS, GROUPS, ConfigError, RunConfig, coerce, field_group, split_list
from .validate import problems, validate
from .values import convert, parse_number, type_members

__all__ = ["DEMO_DATASET", "DEMO_MODEL", "FIELDS", "GROUPS", "LOSS_TRAITS", "MODEL_SUGGESTIONS",
           "PAIRWISE_LOSSES", "STAGES", "ConfigError", "LossTraits", "RunConfig", "coerce",
           "convert", "field_group", "llamafactory", "parse_number", "problems", "split_list",
           "type_members", "validate"]
