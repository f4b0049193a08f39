"""PrefStudio's engine: config, data, models, training methods, runs, chat, evaluation, export.

Run `python -m core --help`. Nothing here imports gradio; the WebUI (webui/) is a thin layer
over these modules.
"""
__version__ = "0.1.0"
