"""The API's answers: the type of each success body, which mypy checks the code that builds it against and from
which ``handler.api.openapi`` makes the document's response schemas.

A key an answer may lack is ``NotRequired``. What its JSON Schema says beyond a key's Python type (a format, a
pattern, a component of the forms') is a ``Schema`` its ``Annotated`` type carries. A class's name is its
component's name when the document names it (``#/components/schemas/Receipt``), and its docstring the schema's
description, which the API's users read. pydantic reads these types only when the document is asked for: nothing
here imports it, so a cold start does not pay for it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

# typing_extensions' TypedDict: pydantic reads typing's only from Python 3.12 on.
from typing_extensions import TypedDict

from handler.conversation import Author, Channel
from handler.storage.request import REQUEST_ID

if TYPE_CHECKING:
    from pydantic import GetJsonSchemaHandler
    from pydantic_core import CoreSchema


@dataclass(frozen=True)
class Schema:
    """A value's JSON Schema as ``change`` makes it of the one pydantic makes of its type (pydantic calls
    ``__get_pydantic_json_schema__`` on what an ``Annotated`` type carries)."""

    change: Callable[[dict[str, Any]], dict[str, Any]]

    def __get_pydantic_json_schema__(
        self, core_schema: "CoreSchema", handler: "GetJsonSchemaHandler"
    ) -> dict[str, Any]:
        return self.change(dict(handler(core_schema)))


Moment = Annotated[str, Schema(lambda schema: {**schema, "format": "date-time"})]  # isoformat(timespec="seconds")
RequestId = Annotated[str, Schema(lambda schema: {**schema, "pattern": REQUEST_ID.pattern})]
# One of the catalog's contact types: the component the forms' schemas refer to (``openapi.form_components``).
ContactType = Annotated[str, Schema(lambda _: {"$ref": "#/components/schemas/ContactType"})]


class Contact(TypedDict):
    """A registered contact: who a session belongs to."""

    email: str
    name: str
    contactTypes: list[ContactType]


class Receipt(TypedDict):
    """What the requester gets back for a stored request."""

    id: RequestId
    reference: str
    status: str
    receivedAt: Moment


class Summary(Receipt):
    """One of the requester's requests, as a list shows it."""

    form: str
    category: str | None
    title: str | None
    updatedAt: Moment


class StatusEvent(TypedDict):
    """One step of a request's history: the status it got, when, and the desk's comment."""

    status: str
    at: Moment
    comment: str | None


class StatusEntry(StatusEvent):
    """A step of the history as the thread shows it, among the messages."""

    kind: Literal["status"]


class Attachment(TypedDict):
    """A file sent with a message: its name and type as checked, and its size in bytes."""

    id: str
    name: str
    type: str
    size: int


class Message(TypedDict):
    """One message of a request's conversation: plain text, shown with its line breaks."""

    kind: Literal["message"]
    id: str
    author: Author
    name: str
    body: str
    at: Moment
    channel: Channel
    attachments: list[Attachment]


# An entry of a request's thread: a message or a status change, as its ``kind`` says (exactly one of the two).
ThreadEntry = Annotated[Message | StatusEntry, Schema(lambda schema: {"oneOf": schema["anyOf"]})]


class Health(TypedDict):
    """The handler is up."""

    status: str


class CodeSent(TypedDict):
    """The same answer whether a code was sent or not."""

    message: str


class NewSession(TypedDict):
    """A new session: when it ends and whose it is, with its token for an API client."""

    token: NotRequired[str]  # for an API client; the page gets the session as a cookie instead
    expiresAt: Moment
    contact: Contact


class CurrentSession(TypedDict):
    """Whose the session is, as the register has them now, and when it ends."""

    contact: Contact
    expiresAt: NotRequired[Moment]  # absent where the address was not read from a session


class Provider(TypedDict):
    """An organization whose people sign in with their own account, and its button's label by language."""

    id: str
    organization: str
    label: dict[str, str]


class Providers(TypedDict):
    """The organizations whose people can sign in with their own account."""

    providers: list[Provider]


class UploadSlot(TypedDict):
    """A slot for one attachment: where to send the file, as a multipart POST of the fields and the file."""

    id: str
    name: str
    expiresAt: Moment
    url: str
    fields: NotRequired[dict[str, str]]


class Page(TypedDict):
    """A page of the requester's requests, newest first, and the cursor of the next (null on the last)."""

    items: list[Summary]
    next: str | None


class RequestDetail(Summary):
    """One of the requester's requests: what was sent, its attachments, its history and its conversation."""

    data: Mapping[str, Any]
    attachments: list[Attachment]  # as they were sent: id, name, type and size
    history: list[StatusEvent]
    thread: list[ThreadEntry]


class Replied(TypedDict):
    """The requester's new message, and the request as it is now."""

    message: Message
    request: Summary


class CopiesStopped(TypedDict):
    """The reference of the request whose copies stopped."""

    reference: str


class Done(TypedDict):
    """What a ticket system's event did: "comment" for a comment taken, "status" for a status change; nothing for a
    replay."""

    done: list[str]
