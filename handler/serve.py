"""Runs the site and the API together on one local address, with the embedded storage."""

from __future__ import annotations

import argparse
import logging
import re
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handler.app import create_app
from handler.contacts import make_contact
from handler.inbox import take_inbox
from handler.services import Services
from handler.settings import ConfigurationError, Settings
from handler.uploads import PENDING_KEPT
from handler.usecases import forwarding, mailing

DEMO_EMAIL = "demo@example.com"
SITE_DIR = Path(__file__).resolve().parent.parent / "dist" / "site"


class NoFraming:
    """Every answer says that no page may show it in a frame: ``X-Frame-Options: DENY``, and ``frame-ancestors
    'none'`` added to its Content-Security-Policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Frame-Options"] = "DENY"
                policy = headers.get("Content-Security-Policy")
                headers["Content-Security-Policy"] = "; ".join(p for p in (policy, "frame-ancestors 'none'") if p)
            await send(message)

        await self.app(scope, receive, framed if scope["type"] == "http" else send)


# Bundles and stylesheets named by their content's hash (build.py): they never change under their name.
HASHED = re.compile(r"(^|/)static/[^/]+\.[A-Z0-9]{8}\.(js|css)$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))  # preferred first, as build.py writes them beside each file


def accepted_encodings(header: str) -> set[str]:
    """The content codings an Accept-Encoding header allows (those not refused with ``q=0``)."""
    allowed = set()
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        quality = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            refused = float(quality) == 0
        except ValueError:
            refused = True
        if name.strip() and not refused:
            allowed.add(name.strip().lower())
    return allowed


class SiteFiles(StaticFiles):
    """The built site as the template's CloudFront serves it: hashed assets cached for a year, pages and every
    other file revalidated; each compressed with brotli or gzip when the browser takes it (the ``.br`` and
    ``.gz`` files build.py writes beside it), with ``Vary: Accept-Encoding``."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file at ``path``, in the best coding the request accepts that the build wrote."""
        response = await super().get_response(path, scope)
        plain = response.path if isinstance(response, FileResponse) else None
        request = Headers(scope=scope)
        if plain is not None and response.status_code == 200:
            accepted = accepted_encodings(request.get("accept-encoding", ""))
            coded = [(c, Path(f"{plain}{suffix}")) for c, suffix in ENCODINGS if c in accepted]
            variants = [(c, p) for c, p in coded if p.is_file()]
            if variants:
                coding, file = variants[0]
                response = FileResponse(
                    file, media_type=response.media_type, headers={"Content-Encoding": coding}, stat_result=file.stat()
                )
                if self.is_not_modified(response.headers, request):
                    response = Response(status_code=304, headers={"etag": response.headers["etag"]})
        served = path.replace("\\", "/")
        response.headers["Cache-Control"] = IMMUTABLE if HASHED.search(served) else REVALIDATE
        if plain is not None or response.status_code == 304:
            response.headers["Vary"] = "Accept-Encoding"
        return response


def local_app(settings: Settings, site_dir: Path = SITE_DIR) -> FastAPI:
    """The API with the built site mounted at ``/``, neither of which another page may frame."""
    app = create_app(settings)
    app.mount("/", SiteFiles(directory=site_dir, html=True), name="site")
    app.add_middleware(NoFraming)
    return app


def server_config(app: FastAPI, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """How uvicorn serves ``app``: X-Forwarded-For is believed only from the trusted proxies, if any."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )


def start_mail_sender(services: Services) -> None:
    """Send queued e-mail from a background thread, woken whenever a request queues some; now and then
    it also retries failed messages and removes uploads no request took (a day old)."""
    wake = threading.Event()

    def run() -> None:
        while True:
            wake.wait(timeout=60)
            wake.clear()
            try:
                mailing.send_queued_mail(services.mailing)
                forwarding.forward_due(services.forwarding)
                if services.receiver is not None:
                    services.receiver.remove_abandoned(services.clock() - PENDING_KEPT)
            except Exception:
                logging.getLogger("servicedesk_forms").exception("background work failed")

    services.mail_queued = wake.set
    threading.Thread(target=run, name="mail-sender", daemon=True).start()
    wake.set()


def start_inbox(services: Services, folder: Path) -> None:
    """Take the replies dropped into ``folder`` as ``.eml`` files, every two seconds."""
    folder.mkdir(parents=True, exist_ok=True)

    def run() -> None:
        while True:
            try:
                for name, received in take_inbox(services.conversing, folder):
                    print(f"{folder / name}: {received.outcome} ({received.reason}) {received.reference}".rstrip())
            except Exception:
                logging.getLogger("servicedesk_forms").exception("taking the inbox failed")
            time.sleep(2)

    threading.Thread(target=run, name="inbox", daemon=True).start()


def where_things_are_kept(settings: Settings) -> list[str]:
    """What the start-up message says about the store and the e-mail, for the storage configured."""
    if settings.storage == "aws":
        s3 = f" at {settings.s3_endpoint_url}" if settings.s3_endpoint_url else ""
        dynamodb = f" at {settings.dynamodb_endpoint_url}" if settings.dynamodb_endpoint_url else ""
        ses = settings.ses_endpoint_url or f"region {settings.region or 'from the AWS configuration'}"
        return [
            f"  requests are stored in S3 bucket {settings.bucket}{s3} and DynamoDB table {settings.table}{dynamodb}",
            f"Sign-in codes and receipts are sent as {settings.mail_from} through Amazon SES ({ses}).",
        ]
    outbox = (settings.data_dir / "outbox").resolve()
    return [
        f"  requests are stored in {settings.data_dir.resolve()}",
        f"Sign-in codes and receipts are written to {outbox}; each path is shown here.",
        f"Replies by e-mail: drop .eml files into {(settings.data_dir / 'inbox').resolve()}"
        + ("" if settings.reply_domain else " (set SDF_REPLY_DOMAIN to sign the Reply-To of each request's mail)"),
    ]


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--no-demo-contact",
        dest="demo_contact",
        action="store_false",
        help=f"do not add {DEMO_EMAIL} when the contact register is empty",
    )
    parser.add_argument("--site", type=Path, default=SITE_DIR, help="the folder build.py wrote (default: dist/site)")
    args = parser.parse_args()
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        parser.error(str(exc))
    if not (args.site / "index.html").exists():
        parser.error(f"{args.site} has no built site; run 'python build.py' first")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = local_app(settings, args.site)
    services: Services = app.state.services
    if args.demo_contact and not services.store.contacts.list_contacts():
        services.store.contacts.put_contact(
            make_contact(
                DEMO_EMAIL, "Demo Kontakt", "", "Demo AS", ["authorized-for-change"], services.catalog.contact_types
            )
        )
        print(f"The contact register was empty: added {DEMO_EMAIL} (Authorized for change) to sign in with.")
    start_mail_sender(services)
    if settings.storage == "local":
        start_inbox(services, settings.data_dir / "inbox")
    where = f"http://{args.host}:{args.port}"
    print(f"servicedesk-forms is running on {where}/")
    catalog = app.state.services.catalog
    for form_id, form in catalog.forms.items():
        for language in catalog.languages:
            print(f"  {form.texts[language]['title']} ({language}): {where}/{language}/{form_id}/")
    print(f"  API: {where}/v1/requests")
    for line in where_things_are_kept(settings):
        print(line)
    print("Press Ctrl+C to stop.")
    uvicorn.Server(server_config(app, settings, args.host, args.port)).run()


if __name__ == "__main__":
    main()
