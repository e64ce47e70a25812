"""YAML config -> validated, frozen config objects, with file and line for every error.

Loading is three steps, each of which can report a ConfigError of one line per problem,
`file:line: key.path: what is wrong; what is allowed; did you mean ...`:

1. parse the YAML (safe loader only) and remember the line of every key (`source`);
2. apply `--set key.path=value` overrides, their values parsed as YAML too (`source`);
3. validate types and ranges with the pydantic schema (`schema`), the layer list
   against the engine's layer declarations (`layers`), then the rules that span
   several keys (`rules`).

`loading` ties them together and finds the shipped configs.
"""

from dlzero_cli.config.layers import Compiled, LayerProblem
from dlzero_cli.config.loading import (
    DEFAULT_CONFIG,
    LoadedConfig,
    ShippedConfig,
    describe_shipped_configs,
    dump_config,
    load_config,
    resolve_config_path,
    shipped_config_dir,
    shipped_configs,
)
from dlzero_cli.config.rules import compile_model, model_footprint, validate
from dlzero_cli.config.schema import Config, DataConfig, ModelConfig, TrainConfig
from dlzero_cli.config.source import ConfigSource, parse_yaml

__all__ = [
    "DEFAULT_CONFIG",
    "Compiled",
    "Config",
    "ConfigSource",
    "DataConfig",
    "LayerProblem",
    "LoadedConfig",
    "ModelConfig",
    "ShippedConfig",
    "TrainConfig",
    "compile_model",
    "describe_shipped_configs",
    "dump_config",
    "load_config",
    "model_footprint",
    "parse_yaml",
    "resolve_config_path",
    "shipped_config_dir",
    "shipped_configs",
    "validate",
]
