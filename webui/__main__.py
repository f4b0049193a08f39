"""Start the WebUI:  python -m webui [--host 127.0.0.1] [--port 7860] [--auth USER:PASS] [--share]

Binds 127.0.0.1 unless --host says otherwise. --auth (or PREFSTUDIO_AUTH=USER:PASS) puts a
login in front of every route (webui/auth.py); --share (a public gradio.live link) is off
unless asked. Runs live in --saves-dir (or $PREFSTUDIO_SAVES, default saves/), where the
CLI's runs are too. Model folders typed into the page load from data/, saves/ and assets/, and
from each --model-dir DIR (repeatable; or $PREFSTUDIO_MODEL_DIRS, os.pathsep-separated).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """USER:PASS -> (user, pass); None when not given. The password may contain colons."""
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise SystemExit("error: --auth / PREFSTUDIO_AUTH must be USER:PASS (both non-empty)")
    return user, password


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m webui", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it to your network)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", default=None, metavar="USER:PASS",
                   help="require this login (default: $PREFSTUDIO_AUTH, else none)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument("--saves-dir", default=None,
                   help="run folder root (default: $PREFSTUDIO_SAVES, else saves/)")
    p.add_argument("--model-dir", action="append", default=[], metavar="DIR",
                   help="also load model folders inside DIR (repeatable; also "
                        "$PREFSTUDIO_MODEL_DIRS, separated by os.pathsep); data/, saves/ and "
                        "assets/ always")
    p.add_argument("--max-concurrent", type=int, default=1,
                   help="runs trained at the same time; more wait in the queue (default 1)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    auth = parse_auth(args.auth or os.environ.get("PREFSTUDIO_AUTH"))
    from core.__main__ import setup_logging
    setup_logging(args.verbose)
    logging.getLogger("gradio").setLevel(logging.WARNING)

    from core.errors import UserError
    from core.runs.manager import RunManager

    from .app import CSS, GRADIO_I18N, build_app, start_poller
    from .workspace import Workspace

    try:
        ws = Workspace(saves_dir=args.saves_dir, model_dirs=args.model_dir)
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
    runs = RunManager(ws.saves_dir, max_concurrent=args.max_concurrent, confined=True)
    start_poller(runs)
    app = build_app(ws, runs)
    models = f", models also from {', '.join(map(str, ws.model_dirs))}" if ws.model_dirs else ""
    print(f"PrefStudio WebUI on http://{args.host}:{args.port} (runs in {ws.saves_dir}{models})"
          + (" with login" if auth else ""), flush=True)
    app.queue(default_concurrency_limit=4).launch(
        server_name=args.host, server_port=args.port, auth=auth, share=args.share,
        inbrowser=False, show_error=True, css=CSS, i18n=GRADIO_I18N, footer_links=[],
        run_history=False, quiet=True, **login_gate(auth))
    return 0


def login_gate(auth: tuple[str, str] | None) -> dict:
    """launch() arguments that put webui.auth's gate in front of every route when there is a
    login (gradio's own leaves some open), and keep pages rendered here (server-side rendering
    would answer from a Node process in front of the gate). Nothing without a login."""
    if auth is None:
        return {}
    from .auth import middleware
    return {"app_kwargs": {"middleware": middleware()}, "ssr_mode": False}


if __name__ == "__main__":
    sys.exit(main())
