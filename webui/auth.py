"""The login in front of the whole app: with --auth, no route answers before the login.

    app.launch(auth=("me", "secret"), app_kwargs={"middleware": middleware()}, ssr_mode=False)

gradio's own `auth` checks only some routes: `GET /` still embeds the API description
(endpoint names, run and dataset names as choices) in the login page, and `/gradio_api/cancel`,
`/reset`, `/heartbeat`, ... answer anyone. LoginGate is ASGI middleware that sits in front of
every route, gradio's and any added later, and lets a request through only with gradio's own
session cookie (set by `POST /login`, which it lets through, as gradio_client uses it too).
Without a session:

- `GET /login` is this module's login form (self-contained: no script or style of the app);
- a page request (`Accept: text/html`) is redirected there;
- anything else gets 401 and a JSON body that says where to log in; a websocket is closed.

The one exception: gradio's launch() calls `/gradio_api/startup-events` itself, once, right
after the server starts; it passes until that happened. Without --auth the gate is not added.
"""
from __future__ import annotations

import html
import json
from typing import Any, Awaitable, Callable

from starlette.middleware import Middleware
from starlette.requests import HTTPConnection

from .i18n import t

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]
LOGIN = ("/login", "/login/")
STARTUP = "/gradio_api/startup-events"


def middleware() -> list[Middleware]:
    """launch()'s app_kwargs["middleware"]: the gate, inside every other middleware's reach."""
    return [Middleware(LoginGate)]


def route_path(scope: Scope) -> str:
    """The path the router matches: without the root_path a proxy put in front."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root):]
    return "/" if root and path == root else path


def user(scope: Scope) -> str | None:
    """The logged-in user, from gradio's session cookie (as gradio's own check reads it)."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if tokens is None or cookie_id is None:
        return None  # not gradio's app: nothing to check the cookie against, so nobody
    cookies = HTTPConnection(scope).cookies
    for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        if cookies.get(name) in tokens:
            return tokens[cookies[name]]
    return None


def passes(scope: Scope) -> bool:
    """Whether the request reaches the app: logged in, the login itself, or launch()'s own
    startup call (only until the startup happened)."""
    app = scope.get("app")
    if app is not None and getattr(app, "auth", "unset") is None:
        return True  # the app has no login (launched without auth): nothing to guard
    path, method = route_path(scope), scope.get("method")
    if method == "POST" and path in LOGIN:
        return True
    if path == STARTUP and method == "GET" and not getattr(app, "startup_events_triggered", True):
        return True
    return user(scope) is not None


class LoginGate:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        kind = scope["type"]
        if kind == "http" and scope.get("method") in ("GET", "HEAD") and route_path(scope) in LOGIN:
            await self.login_page(scope, send)
        elif kind not in ("http", "websocket") or passes(scope):
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # policy violation
        else:
            await self.refuse(scope, send)

    async def login_page(self, scope: Scope, send: Callable) -> None:
        """The form; a logged-in user goes on to the app."""
        if user(scope) is not None:
            home = (scope.get("root_path", "") + "/").encode()
            await respond(send, 303, b"", [(b"location", home)])
            return
        body = b"" if scope.get("method") == "HEAD" else login_html(language(scope)).encode()
        await respond(send, 200, body, [(b"content-type", b"text/html; charset=utf-8")])

    async def refuse(self, scope: Scope, send: Callable) -> None:
        """A page request goes to the form; any other request gets 401."""
        login = scope.get("root_path", "") + "/login"
        accept = HTTPConnection(scope).headers.get("accept", "")
        if scope.get("method") in ("GET", "HEAD") and "text/html" in accept:
            await respond(send, 303, b"", [(b"location", login.encode())])
            return
        body = json.dumps({"error": "Not authenticated", "login": login}).encode()
        await respond(send, 401, body, [(b"content-type", b"application/json")])


async def respond(send: Callable, status: int, body: bytes,
                  headers: list[tuple[bytes, bytes]]) -> None:
    """A complete response; never cached, so a page seen after login is not served to
    someone logged out."""
    headers = headers + [(b"content-length", str(len(body)).encode()),
                         (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def language(scope: Scope) -> str:
    """中文 for browsers that ask for Chinese first, else English."""
    accept = HTTPConnection(scope).headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else "en"


def login_html(lang: str) -> str:
    """The login form: posts to gradio's /login (which sets the session cookie), then opens
    the app; a wrong login says so. Relative URLs, so it works under a proxy's root path."""
    text = {"title": t("title", lang), "login_title": t("login_title", lang),
            "login_user": t("login_user", lang), "login_password": t("login_password", lang),
            "login_button": t("login_button", lang), "login_failed": t("login_failed", lang)}
    text = {k: html.escape(v) for k, v in text.items()}
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{text["title"]}</title>
<style>
body {{ font-family: system-ui, sans-serif; display: flex; justify-content: center;
       margin-top: 12vh; background: #f7f7f8; }}
form {{ background: #fff; padding: 2rem; border-radius: 8px; width: 20rem;
       box-shadow: 0 1px 4px rgba(0,0,0,.15); display: flex; flex-direction: column; gap: .6rem; }}
input, button {{ font-size: 1rem; padding: .5rem; }}
#failed {{ color: #b91c1c; }}
</style></head>
<body><form id="login" method="post" action="login">
<h2>{text["title"]}</h2><div>{text["login_title"]}</div>
<label>{text["login_user"]}<br><input name="username" id="username" autocomplete="username"
  required autofocus style="width: 95%"></label>
<label>{text["login_password"]}<br><input name="password" id="password" type="password"
  autocomplete="current-password" required style="width: 95%"></label>
<button type="submit" id="login-button">{text["login_button"]}</button>
<div id="failed" hidden>{text["login_failed"]}</div>
</form>
<script>
document.getElementById("login").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const body = new URLSearchParams(new FormData(event.target));
  const answer = await fetch("login", {{method: "POST", body, credentials: "same-origin"}});
  if (answer.ok) location.replace("./");
  else document.getElementById("failed").hidden = false;
}});
</script></body></html>
"""
