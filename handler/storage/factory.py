"""Picks the store the settings ask for."""

from __future__ import annotations

from handler.settings import Settings
from handler.storage.base import Store


def make_store(settings: Settings) -> Store:
    """The embedded store under ``settings.data_dir``, or the AWS store when ``storage`` is ``aws``."""
    if settings.storage == "aws":
        from handler.storage.aws import AwsStore  # boto3 is only imported where it is used

        return AwsStore.from_settings(settings)
    from handler.storage.local import LocalStore

    return LocalStore(settings.data_dir)
