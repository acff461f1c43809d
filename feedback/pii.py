"""The PII scrub applied to feedback text before it is stored: e-mail addresses, phone numbers (Chinese mobiles and
international numbers), Chinese resident ID numbers and payment card numbers become placeholders.

Checksums (the ID number's ISO 7064 check digit, the card number's Luhn sum) keep order numbers and other long digit
runs that are not PII from being replaced. ID numbers and cards are matched before phones, because an 18-digit ID
contains 11-digit runs that look like a mobile number.
"""

import re

PLACEHOLDERS = {"email": "[EMAIL]", "phone": "[PHONE]", "cn_id": "[ID]", "card": "[CARD]"}

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# 6-digit area, 8-digit birth date (18xx-20xx), 3-digit sequence, check digit (0-9 or X); not inside a longer number.
CN_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
# 13-19 digits, optionally grouped by single spaces or hyphens.
CARD = re.compile(r"(?<![\d+])\d(?:[ \-]?\d){12,18}(?![\d])")
# A Chinese mobile (optionally +86 / 0086), then international numbers written with a leading +.
CN_MOBILE = re.compile(r"(?<![\d])(?:(?:\+|00)86[ \-]?)?1[3-9]\d(?:[ \-]?\d{4}){2}(?![\d])")
INTL_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ \-.]?\(?\d{1,4}\)?){2,5}(?![\d])")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def cn_id_valid(text: str) -> bool:
    total = sum(int(digit) * weight for digit, weight in zip(text[:17], ID_WEIGHTS))
    return ID_CHECK[total % 11] == text[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# Guards that fail fast in C: the digit patterns need at least 7 digits in a row (spaces or hyphens allowed between),
# e-mail needs an "@", international numbers a "+". Most chat text passes none, and then no PII pattern runs at all.
DIGIT_GUARD = re.compile(r"\d(?:[ \-]?\d){6}")


def _sub_checked(pattern: re.Pattern, text: str, placeholder: str, check, counter: list[int]) -> str:
    def replace(match: re.Match) -> str:
        if check is not None and not check(match.group(0)):
            return match.group(0)
        counter[0] += 1
        return placeholder

    return pattern.sub(replace, text)


def scrub_text(text: str, kinds: frozenset[str]) -> tuple[str, int]:
    """`text` with each PII kind in `kinds` replaced by its placeholder, and how many spans were replaced.

    A span whose checksum fails (an order number that is no card) is left as it is."""
    if not text or not kinds:
        return text, 0
    counter = [0]
    if DIGIT_GUARD.search(text):
        if "cn_id" in kinds:
            text = _sub_checked(CN_ID, text, PLACEHOLDERS["cn_id"], cn_id_valid, counter)
        if "card" in kinds:
            text = _sub_checked(
                CARD, text, PLACEHOLDERS["card"], lambda span: luhn_valid(re.sub(r"[ \-]", "", span)), counter
            )
        if "phone" in kinds:
            text = _sub_checked(CN_MOBILE, text, PLACEHOLDERS["phone"], None, counter)
    if "phone" in kinds and "+" in text:
        text = _sub_checked(
            INTL_PHONE, text, PLACEHOLDERS["phone"], lambda span: len(re.sub(r"\D", "", span)) >= 8, counter
        )
    if "email" in kinds and "@" in text:
        text = _sub_checked(EMAIL, text, PLACEHOLDERS["email"], None, counter)
    return text, counter[0]
