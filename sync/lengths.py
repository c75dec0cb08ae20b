"""How long the texts people type may be, alike at the stand and centrally.

A client's name is typed at a stand (a member registered there) or centrally, a staff
member's name centrally; both travel to the stands in the directory and a client's in the
stand's ``client.registered`` event. A comment is written at a stand (on a client, or when a
session ends) or centrally, and travels in events and in the central service's commands. Each
side checks what is typed against these, and ``sync.directory`` and ``sync.events`` refuse a
longer text on the wire, so a text one side accepts is never refused by the other.

Lengths count characters (``len``) after the outer spaces are removed.
"""

MAX_NAME = 200  # a client's or a staff member's name
MAX_COMMENT = 2000  # a comment on a client or a session
