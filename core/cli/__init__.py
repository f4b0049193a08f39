"""The command line: one module per command (train, doctor, data, chat, eval, runs, export,
demo, bench), each with add_arguments(parser) and main(args) -> exit code. Argument parsing and
printing only: every decision is made by the core package the command calls."""
import logging


def quiet_libraries() -> None:
    """Command-line runs: no progress bars or library deprecation chatter between answers."""
    import warnings

    import transformers

    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
