"""Attachments: a slot per file, and the embedded default's address that takes the file."""

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from handler.api.bodies import json_body, read_json
from handler.api.deps import NO_STORE, Language, ServicesDep, SignedIn, run
from handler.usecases import uploading

if TYPE_CHECKING:
    from handler import answers

router = APIRouter(prefix="/v1/uploads")
_SLOT = {
    "form": {"type": "string"},
    "field": {"type": "string"},
    "name": {"type": "string"},
    "type": {"type": "string"},
}


@router.post("", status_code=201, openapi_extra=json_body({**_SLOT, "size": {"type": "integer"}}))
async def upload_slot(request: Request, language: Language, services: ServicesDep, email: SignedIn) -> JSONResponse:
    """A slot for one attachment: where to send the file, bounded in size and type."""
    body = await read_json(request, 4096)

    def local_url(upload_id: str) -> str:
        return str(request.url_for("receive_upload", upload_id=upload_id))

    slot = await run(uploading.new_slot, services.uploading, body, email, language, local_url)
    upload = slot.upload
    answer: answers.UploadSlot = {
        "id": upload.id,
        "name": upload.name,
        "expiresAt": upload.expires_at.isoformat(timespec="seconds"),
        "url": slot.target["url"],
    }
    if "fields" in slot.target:
        answer["fields"] = slot.target["fields"]
    return JSONResponse(answer, status_code=201, headers=NO_STORE)


@router.post("/{upload_id}/file", name="receive_upload", status_code=204)
async def receive_upload(upload_id: str, request: Request, language: Language, services: ServicesDep) -> Response:
    """The embedded default's stand-in for S3: takes a file of the declared size for a signed, unexpired slot."""
    upload = await run(uploading.receivable, services.uploading, upload_id, request.headers.get("content-length", ""))
    form = await request.form(max_files=1, max_fields=5)
    file = form.get("file")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    chunks = None if file is None or isinstance(file, str) else iter(lambda: file.file.read(65536), b"")
    await run(uploading.receive_file, services.uploading, upload, fields, chunks, language)
    return Response(status_code=204)
