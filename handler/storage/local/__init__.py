"""The embedded default: one SQLite database (and a folder of uploaded files), one module per port.

``db`` is the database (schema, connections, transactions) and ``records`` its rows as the domain's
objects; ``requests``, ``contacts``, ``signin``, ``mail``, ``uploads``, ``thread`` and ``forwards`` each keep
one port of the store, and ``blobs`` the uploaded files. Each port object is built from the one
``Database``; ``LocalStore`` composes them under one folder.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from handler.storage.base import Store
from handler.storage.cursor import CursorCodec, new_cursor_key
from handler.storage.local.blobs import LocalBlobs
from handler.storage.local.contacts import LocalContacts
from handler.storage.local.db import Database, private_folder
from handler.storage.local.forwards import LocalForwards
from handler.storage.local.mail import LocalMail
from handler.storage.local.requests import LocalRequests
from handler.storage.local.signin import LocalSignIn
from handler.storage.local.thread import LocalConversation
from handler.storage.local.uploads import LocalUploads

__all__ = ["LocalBlobs", "LocalStore"]


class LocalStore(Store):
    """Stores requests under one folder, for a laptop or a single small server: one port object each, all on
    the one ``Database``."""

    requests: LocalRequests
    contacts: LocalContacts
    sign_in: LocalSignIn
    mail: LocalMail
    uploads: LocalUploads

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        private_folder(folder)
        os.chmod(folder, 0o700)
        # Requests stored before documents moved into the database keep theirs here, as files.
        self.documents = folder / "documents"
        self.database = folder / "requests.sqlite3"
        self._db = Database(self.database)
        with self._db.connect() as db:
            # One key per folder, made by whichever process opens it first.
            db.execute("INSERT OR IGNORE INTO signing_keys (name, key) VALUES ('page-cursor', ?)", (new_cursor_key(),))
            (key,) = db.execute("SELECT key FROM signing_keys WHERE name = 'page-cursor'").fetchone()
        super().__init__(
            LocalRequests(self._db, self.documents, CursorCodec(bytes(key))),
            LocalContacts(self._db),
            LocalSignIn(self._db),
            LocalMail(self._db),
            LocalUploads(self._db),
        )

    @property
    def commits(self) -> Counter[str]:
        """The commits that wrote something since the store was opened, by how they were synced: ``"full"``
        (on disk when they returned) or ``"normal"`` (on disk with the next full one)."""
        return self._db.commits

    def conversation(self) -> LocalConversation:
        """The messages, in this folder's database."""
        return LocalConversation(self._db)

    def forwards(self) -> LocalForwards:
        """The forwarding jobs and tickets, in this folder's database."""
        return LocalForwards(self._db)

    def files(self) -> tuple[LocalBlobs, LocalBlobs]:
        """The folder ``blobs`` beside the database, which also takes the uploaded files."""
        folder = LocalBlobs(self.folder / "blobs")
        return folder, folder
