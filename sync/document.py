"""Reading a JSON document of the sync protocol field by field.

The directory and the events arrive as parsed JSON (dicts, lists, str, int, bool, None).
:class:`Fields` wraps one JSON object and checks each field as it is read, raising
``RuleError`` whose message names the document and the field's path, e.g.
``Справочник: поле «clients[2].id» — нужно целое число не меньше 1``. Keys a reader does
not ask for are ignored, so a newer peer may add fields without breaking an older one.

    client = Fields(obj, "Справочник", "clients[2]")
    client_id = client.integer("id", minimum=1)
"""

import re
from collections.abc import Collection
from datetime import UTC, datetime

from sync.errors import RuleError


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time with an offset (``2024-03-01T10:00:00Z``); ValueError otherwise."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("no offset")
    return moment


class Fields:
    """One JSON object of a document; each accessor reads and checks one field."""

    def __init__(self, obj: object, document: str, path: str = "", code: str = "bad_document"):
        self.document = document
        self.path = path
        self.code = code
        if not isinstance(obj, dict):
            raise self._error("нужен объект", path)
        self.obj: dict[str, object] = obj

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _error(self, problem: str, where: str) -> RuleError:
        if where:
            return RuleError(f"{self.document}: поле «{where}» — {problem}", self.code)
        return RuleError(f"{self.document}: {problem}", self.code)

    def fail(self, key: str, problem: str) -> RuleError:
        """An error about ``key`` of this object, for checks the accessors do not make."""
        return self._error(problem, self._where(key))

    def _get(self, key: str) -> object:
        if key not in self.obj:
            raise self.fail(key, "обязательное поле отсутствует")
        return self.obj[key]

    def has(self, key: str) -> bool:
        return self.obj.get(key) is not None

    def integer(self, key: str, minimum: int | None = None) -> int:
        value = self.obj.get(key)
        if type(value) is int and (minimum is None or value >= minimum):
            return value  # the usual case, at once (a stand's batch reads thousands)
        value = self._get(key)
        if not _is_int(value):
            raise self.fail(key, "нужно целое число")
        assert isinstance(value, int)
        if minimum is not None and value < minimum:
            raise self.fail(key, f"нужно целое число не меньше {minimum}")
        return value

    def optional_integer(self, key: str, minimum: int | None = None) -> int | None:
        return None if self._get(key) is None else self.integer(key, minimum)

    def text(
        self, key: str, max_len: int, pattern: re.Pattern[str] | None = None, empty: bool = True
    ) -> str:
        value = self.obj.get(key)
        if (
            type(value) is str
            and len(value) <= max_len
            and (empty or value)
            and (pattern is None or pattern.fullmatch(value))
        ):
            return value  # the usual case, at once; otherwise the checks below say why not
        value = self._get(key)
        if not isinstance(value, str):
            raise self.fail(key, "нужна строка")
        if len(value) > max_len:
            raise self.fail(key, f"не длиннее {max_len} символов")
        if not empty and not value:
            raise self.fail(key, "не может быть пустым")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(key, "неверный формат")
        return value

    def optional_text(
        self, key: str, max_len: int, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        return None if self._get(key) is None else self.text(key, max_len, pattern)

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self.fail(key, "нужно true или false")
        return value

    def choice(self, key: str, choices: Collection[str]) -> str:
        value = self.obj.get(key)
        if type(value) is str and value in choices:
            return value
        value = self._get(key)
        if not isinstance(value, str) or value not in choices:
            raise self.fail(key, "одно из значений: " + ", ".join(sorted(choices)))
        return value

    def moment(self, key: str) -> datetime:
        """An ISO 8601 time with its offset (a naive time is refused)."""
        value = self.text(key, 40)
        try:
            return parse_utc(value)
        except ValueError:
            raise self.fail(key, "нужно время ISO 8601 с часовым поясом") from None

    def items(self, key: str, max_items: int = 1_000_000) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self.fail(key, "нужен список")
        if len(value) > max_items:
            raise self.fail(key, f"не больше {max_items} элементов")
        return value

    def objects(self, key: str, max_items: int = 1_000_000) -> list["Fields"]:
        """A list of JSON objects, each wrapped for reading."""
        where = self._where(key)
        return [
            Fields(item, self.document, f"{where}[{index}]", self.code)
            for index, item in enumerate(self.items(key, max_items))
        ]

    def texts(
        self, key: str, max_len: int, pattern: re.Pattern[str] | None = None, max_items: int = 100
    ) -> list[str]:
        """A list of strings, each checked like :meth:`text`."""
        values = self.items(key, max_items)
        where = self._where(key)
        for index, value in enumerate(values):
            if not isinstance(value, str) or len(value) > max_len:
                raise self._error(
                    f"нужна строка не длиннее {max_len} символов", f"{where}[{index}]"
                )
            if pattern is not None and not pattern.fullmatch(value):
                raise self._error("неверный формат", f"{where}[{index}]")
        return [str(value) for value in values]

    def nested(self, key: str) -> "Fields":
        return Fields(self._get(key), self.document, self._where(key), self.code)


def format_utc(moment: datetime) -> str:
    """The wire form of a time: ISO 8601 in UTC with a ``Z`` (``2024-03-01T10:00:00Z``)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
