"""The upload size cap, enforced while the request body streams in (``FILE_UPLOAD_HANDLERS``).

The upload view refuses a declared ``Content-Length`` over the cap before reading anything; this handler
covers bodies without one (chunked transfer) or that lie about it: it counts every uploaded file's bytes and
stops the request at the cap, so an oversized upload never lands on disk whole.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParserError
from rest_framework import status
from rest_framework.exceptions import APIException

UPLOAD_SETTING = "HYBRIDPREF_IMPORT_MAX_UPLOAD_BYTES"
FORM_OVERHEAD = 64 * 1024


class UploadTooLarge(MultiPartParserError):
    """Raised mid-upload; DRF answers a MultiPartParserError with 400 and its message."""


def upload_cap() -> int:
    return int(settings.IMPORT_MAX_UPLOAD_BYTES)


def too_large_sentence(size: int | None = None) -> str:
    got = f" ({size:,} bytes)" if size is not None else ""
    return (
        f"the upload{got} is larger than the upload size limit of {upload_cap():,} bytes "
        f"(setting {UPLOAD_SETTING}); import a file this large on the server with manage.py import_instances"
    )


class SizeCapUploadHandler(FileUploadHandler):
    """First of the upload handlers: passes data on to the next handler until the cap is crossed."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > upload_cap():
            raise UploadTooLarge(too_large_sentence())
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


class UploadTooLargeError(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "upload_too_large"


def refuse_declared_oversize(content_length: str | None) -> None:
    """413 before reading the body when the request says it is larger than the cap (plus room for the
    form's other fields and boundaries)."""
    try:
        declared = int(content_length or 0)
    except ValueError:
        return  # Django refuses a malformed Content-Length itself
    if declared > upload_cap() + FORM_OVERHEAD:
        raise UploadTooLargeError(too_large_sentence(declared))


def save_upload(upload: UploadedFile, target: Path) -> None:
    """Copy the upload to ``target``; a copy that fails half-way (disk full...) leaves no file behind."""
    if upload.size is not None and upload.size > upload_cap():
        raise UploadTooLargeError(too_large_sentence(upload.size))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
