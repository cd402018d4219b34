"""SMS length in segments: GSM-7 (160 per message, 153 per part) unless a character needs UCS-2
(70 per message, 67 per part). Extension characters (``€``, ``[``, ``{`` ...) take two GSM septets;
UCS-2 counts UTF-16 code units, so an emoji takes two."""

from __future__ import annotations

from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

Encoding = Literal["GSM-7", "UCS-2"]


GSM7 = GSM7_BASIC | GSM7_EXTENSION


def encoding_of(text: str) -> Encoding:
    return "GSM-7" if GSM7.issuperset(text) else "UCS-2"


def sms_length(text: str) -> tuple[Encoding, int]:
    """The encoding and the length in its units (septets or UTF-16 code units)."""
    encoding = encoding_of(text)
    if encoding == "GSM-7":
        return encoding, len(text) + sum(text.count(ch) for ch in GSM7_EXTENSION)
    return encoding, len(text.encode("utf-16-le")) // 2


def segment_count(text: str) -> tuple[Encoding, int, int]:
    """``(encoding, segments, length)``; an empty body is 0 segments."""
    encoding, length = sms_length(text)
    single, part = (160, 153) if encoding == "GSM-7" else (70, 67)
    if length == 0:
        return encoding, 0, 0
    if length <= single:
        return encoding, 1, length
    return encoding, -(-length // part), length
