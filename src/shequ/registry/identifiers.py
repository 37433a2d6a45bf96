"""Validation and display masking of Chinese identifiers.

Pure Python (no Django): resident ID numbers (GB 11643-1999), unified social credit codes
(GB 32100-2015) and mainland phone numbers. Each ``parse_*`` function returns a frozen result or
raises :class:`IdentifierError`; doubtful but possible values (an unknown county code) are
returned as ``warnings`` instead. Every message text lives in :data:`MESSAGES` so the UI can
translate by ``IdentifierError.code``.

Input is NFKC-normalised first, so full-width digits and letters typed with a Chinese input
method (``１１０１…``) are accepted.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "ID_KIND",
    "MESSAGES",
    "PHONE_KIND",
    "PROVINCE_CODES",
    "REGISTRATION_AUTHORITIES",
    "CreditCode",
    "IdentifierError",
    "Phone",
    "ResidentId",
    "credit_code_check_char",
    "make_credit_code",
    "make_resident_id",
    "mask_name",
    "mask_phone",
    "mask_resident_id",
    "parse_credit_code",
    "parse_phone",
    "parse_resident_id",
    "region_name",
    "resident_id_check_char",
]

# All user-facing texts, errors and warnings alike, keyed by a stable code.
MESSAGES: dict[str, str] = {
    "empty": "{what} is empty",
    # resident ID
    "rid_15_digits": "15-digit resident ID numbers are obsolete; enter the 18-digit number",
    "rid_length": "resident ID number must have 18 characters, got {length}",
    "rid_chars": "resident ID number may contain only digits and a final X",
    "rid_first17": "the first 17 characters of a resident ID number must be digits",
    "rid_province": "unknown province code {province} in resident ID number",
    "rid_birth_invalid": "birth date {raw} in resident ID number is not a valid date",
    "rid_birth_before_1900": "birth date {birth} in resident ID number is before 1900",
    "rid_birth_future": "birth date {birth} in resident ID number is in the future",
    "rid_region_format": "region code must be 6 digits, got {value!r}",
    "rid_sequence": "sequence number must be between 0 and 999, got {value}",
    "rid_unknown_region": "region code {region} is not in the GB/T 2260 table; it may be new or mistyped",
    # unified social credit code
    "cc_length": "unified social credit code must have 18 characters, got {length}",
    "cc_char": "invalid character {char!r} at position {position} of unified social credit code"
    " (I, O, S, V and Z are never used)",
    "cc_first17": "the first 17 characters of a unified social credit code must be from its alphabet",
    "cc_authority": "unknown registration authority code {char!r} in unified social credit code",
    "cc_region_format": "region code {region!r} in unified social credit code must be 6 digits",
    "cc_organization_code": "organization code must have 8 or 9 characters from the credit code alphabet,"
    " got {value!r}",
    "cc_unknown_region": "region code {region} of the registration authority is not in the GB/T 2260 table",
    # phone
    "phone_chars": "phone number contains invalid character {char!r}",
    "phone_mobile_length": "mobile number must have 11 digits, got {length}",
    "phone_mobile_prefix": "mobile number must start with 13 to 19, got {prefix}",
    "phone_area_code": "{area} is not a valid area code",
    "phone_local_length": "local number after area code {area} must have {expected} digits, got {length}",
    "phone_local_zero": "local number after area code {area} must not start with 0",
    "phone_no_area_code": "landline number needs its area code with a leading 0, e.g. 0931-8123456",
    "phone_not_mainland": "not a mainland China mobile or landline number",
    "phone_mobile_extension": "extensions are only allowed on landline numbers",
    # shared
    "check_char": "check character is {actual}, expected {expected}",
}


class IdentifierError(ValueError):
    """An identifier is invalid; ``code`` keys :data:`MESSAGES`, ``params`` fill it in."""

    def __init__(self, code: str, **params: object) -> None:
        self.code = code
        self.params = params
        super().__init__(MESSAGES[code].format(**params))


def _message(code: str, **params: object) -> str:
    return MESSAGES[code].format(**params)


def _clean(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


# --- region codes (GB/T 2260) ----------------------------------------------------------------

# Kinds of the keyed hashes (core.crypto.keyed_hash) that find an encrypted number by equality.
ID_KIND = "resident_id"
PHONE_KIND = "phone"

_REGION_FILE = Path(__file__).parent / "data" / "gb2260.tsv"

# First two digits of GB/T 2260 province-level codes; 83 is used by Taiwan residents' residence
# permits (81 and 82 by those of Hong Kong and Macao residents).
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47))]
    + [str(n) for n in (*range(50, 55), *range(61, 66), 71, 81, 82, 83)]
)
_MAINLAND_PROVINCE_CODES = PROVINCE_CODES - {"71", "81", "82", "83"}


@cache
def _region_table() -> dict[str, str]:
    table: dict[str, str] = {}
    with _REGION_FILE.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            code, _, name = line.rstrip("\n").partition("\t")
            table[code] = name
    return table


def region_name(code: str) -> str | None:
    """Chinese name of a 6-digit GB/T 2260 code (any revision since 1980), or None if unknown."""
    return _region_table().get(code)


# --- resident ID number (GB 11643-1999) ------------------------------------------------------

_RID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2**(17-i) mod 11
_RID_CHECK_CHARS = "10X98765432"  # indexed by weighted sum mod 11 (ISO 7064 MOD 11-2)
_RID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")

ResidentIdKind = Literal["resident", "hmt_residence_permit", "foreign_permanent_residence"]


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A valid 18-character resident ID number.

    ``kind`` is ``hmt_residence_permit`` for the 81/82/83 residence permits of Hong Kong, Macao
    and Taiwan residents, and ``foreign_permanent_residence`` for the 2023 foreigner's permanent
    residence ID card (first digit 9, then the issuing province, then a 3-digit nationality code);
    for the latter ``region_code`` is the issuing province's code (e.g. ``110000``).
    """

    number: str
    region_code: str
    birth_date: date
    gender: Literal["male", "female"]
    warnings: tuple[str, ...] = ()
    kind: ResidentIdKind = "resident"
    nationality_code: str | None = None


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ("0"-"9" or "X") for the first 17 digits."""
    if not re.fullmatch(r"[0-9]{17}", first17):
        raise IdentifierError("rid_first17")
    return _RID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _RID_WEIGHTS, strict=True)) % 11]


def parse_resident_id(value: str, *, today: date | None = None) -> ResidentId:
    """Validate and decode an 18-character resident ID number (lower-case x is accepted)."""
    number = _clean(value).upper()
    if not number:
        raise IdentifierError("empty", what="resident ID number")
    if len(number) == 15 and number.isascii() and number.isdigit():
        raise IdentifierError("rid_15_digits")
    if len(number) != 18:
        raise IdentifierError("rid_length", length=len(number))
    if not _RID_SHAPE.fullmatch(number):
        raise IdentifierError("rid_chars")

    kind: ResidentIdKind = "resident"
    nationality_code = None
    if number[0] == "9":
        kind = "foreign_permanent_residence"
        province = number[1:3]
        if province not in _MAINLAND_PROVINCE_CODES:
            raise IdentifierError("rid_province", province=province)
        region_code, nationality_code = province + "0000", number[3:6]
    else:
        province, region_code = number[:2], number[:6]
        if province not in PROVINCE_CODES:
            raise IdentifierError("rid_province", province=province)
        if province in {"81", "82", "83"}:
            kind = "hmt_residence_permit"

    raw_birth = number[6:14]
    try:
        birth = date(int(raw_birth[:4]), int(raw_birth[4:6]), int(raw_birth[6:]))
    except ValueError:
        raise IdentifierError("rid_birth_invalid", raw=raw_birth) from None
    if birth.year < 1900:
        raise IdentifierError("rid_birth_before_1900", birth=birth.isoformat())
    if birth > (today or date.today()):
        raise IdentifierError("rid_birth_future", birth=birth.isoformat())

    expected = resident_id_check_char(number[:17])
    if number[17] != expected:
        raise IdentifierError("check_char", actual=number[17], expected=expected)

    warnings = []
    if kind != "foreign_permanent_residence" and region_name(region_code) is None:
        warnings.append(_message("rid_unknown_region", region=region_code))
    return ResidentId(
        number=number,
        region_code=region_code,
        birth_date=birth,
        gender="male" if int(number[16]) % 2 else "female",
        warnings=tuple(warnings),
        kind=kind,
        nationality_code=nationality_code,
    )


def make_resident_id(region_code: str, birth_date: date, sequence: int) -> str:
    """Build a valid number; ``sequence`` is 0-999 and its parity sets the gender (odd = male)."""
    if not re.fullmatch(r"[0-9]{6}", region_code):
        raise IdentifierError("rid_region_format", value=region_code)
    if not 0 <= sequence <= 999:
        raise IdentifierError("rid_sequence", value=sequence)
    first17 = f"{region_code}{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}{sequence:03d}"
    number = first17 + resident_id_check_char(first17)
    parse_resident_id(number)  # rejects unknown provinces and impossible birth dates
    return number


# --- unified social credit code (GB 32100-2015) -----------------------------------------------

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CC_VALUES = {c: i for i, c in enumerate(CREDIT_CODE_ALPHABET)}
_CC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3**i mod 31
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organization code
_CC_NATIONAL_REGION = "100000"  # registration authorities at central level

# Registration authority (char 1), GB 32100-2015 table 1.
REGISTRATION_AUTHORITIES: dict[str, str] = {
    "1": "institutional establishment",  # 机构编制
    "2": "foreign affairs",  # 外交
    "3": "judicial administration",  # 司法行政
    "4": "culture",  # 文化
    "5": "civil affairs",  # 民政
    "6": "tourism",  # 旅游
    "7": "religious affairs",  # 宗教
    "8": "trade union",  # 工会
    "9": "market regulation",  # 工商 / 市场监管
    "A": "Central Military Commission reform and establishment office",  # 中央军委改革和编制办公室
    "N": "agriculture",  # 农业
    "Y": "other",  # 其他
}


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A valid unified social credit code, split into its parts."""

    number: str
    registration_authority: str
    organization_type: str
    region_code: str
    organization_code: str
    warnings: tuple[str, ...] = ()


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character (mod 31) for the first 17 characters."""
    if len(first17) != 17 or any(c not in _CC_VALUES for c in first17):
        raise IdentifierError("cc_first17")
    remainder = sum(_CC_VALUES[c] * w for c, w in zip(first17, _CC_WEIGHTS, strict=True)) % 31
    return CREDIT_CODE_ALPHABET[(31 - remainder) % 31]


def _organization_code_check_char(first8: str) -> str:
    # GB 11714: digits count as 0-9, letters A-Z as 10-35.
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def parse_credit_code(value: str) -> CreditCode:
    """Validate and split an 18-character unified social credit code (lower case is accepted)."""
    number = _clean(value).upper()
    if not number:
        raise IdentifierError("empty", what="unified social credit code")
    if len(number) != 18:
        raise IdentifierError("cc_length", length=len(number))
    for position, char in enumerate(number, start=1):
        if char not in _CC_VALUES:
            raise IdentifierError("cc_char", char=char, position=position)
    if number[0] not in REGISTRATION_AUTHORITIES:
        raise IdentifierError("cc_authority", char=number[0])
    region_code = number[2:8]
    if not region_code.isdigit():
        raise IdentifierError("cc_region_format", region=region_code)
    expected = credit_code_check_char(number[:17])
    if number[17] != expected:
        raise IdentifierError("check_char", actual=number[17], expected=expected)

    warnings = []
    if region_code != _CC_NATIONAL_REGION and region_name(region_code) is None:
        warnings.append(_message("cc_unknown_region", region=region_code))
    return CreditCode(
        number=number,
        registration_authority=number[0],
        organization_type=number[1],
        region_code=region_code,
        organization_code=number[8:17],
        warnings=tuple(warnings),
    )


def make_credit_code(
    region_code: str,
    organization_code: str,
    *,
    registration_authority: str = "9",
    organization_type: str = "1",
) -> str:
    """Build a valid code; an 8-character ``organization_code`` gets its GB 11714 check char added."""
    if not re.fullmatch(r"[0-9]{6}", region_code):
        raise IdentifierError("cc_region_format", region=region_code)
    if len(organization_code) not in (8, 9) or any(c not in _CC_VALUES for c in organization_code):
        raise IdentifierError("cc_organization_code", value=organization_code)
    if len(organization_code) == 8:
        organization_code += _organization_code_check_char(organization_code)
    first17 = registration_authority + organization_type + region_code + organization_code
    number = first17 + credit_code_check_char(first17)
    parse_credit_code(number)
    return number


# --- phone numbers ---------------------------------------------------------------------------

_PHONE_EXTENSION = re.compile(
    r"^(?P<main>.*?)\s*(?:ext\.?|x|#|转|分机|,)\s*(?P<ext>[0-9]{1,6})$", re.IGNORECASE
)
_PHONE_INTERNATIONAL = re.compile(r"^(?:\+\s*86|00\s*86|\(\s*\+?\s*86\s*\))")
_PHONE_ALLOWED = re.compile(r"[0-9 ()\-]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_LIKE = re.compile(r"1[1-9]")  # 10 starts Beijing landlines written as +86 10 …
_AREA_CODE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})")


@dataclass(frozen=True, slots=True)
class Phone:
    """A mainland phone number; ``number`` is E.164 (``+8613812345678``, ``+869318123456``)."""

    number: str
    kind: Literal["mobile", "landline"]
    area_code: str | None = None  # landlines only, with the leading 0 ("0931")
    extension: str | None = None

    @property
    def national(self) -> str:
        """Digits as dialled inside China: ``13812345678`` or ``09318123456``."""
        digits = self.number.removeprefix("+86")
        return digits if self.kind == "mobile" else "0" + digits


def _landline(digits: str) -> tuple[str, str]:
    """Split national landline digits ("09318123456") into (area code, local number) or raise."""
    if len(digits) < 3:
        raise IdentifierError("phone_not_mainland")
    # Area codes are prefix-free: 010 and 02x have two digits after the 0, all others three.
    area = digits[:3] if digits[1] in "12" else digits[:4]
    if not _AREA_CODE.fullmatch(area):
        raise IdentifierError("phone_area_code", area=area)
    local = digits[len(area) :]
    lengths = (8,) if len(area) == 3 else (7, 8)
    if len(local) not in lengths:
        expected = " or ".join(map(str, lengths))
        raise IdentifierError("phone_local_length", area=area, expected=expected, length=len(local))
    if local[0] == "0":
        raise IdentifierError("phone_local_zero", area=area)
    return area, local


def _split_dash_extension(text: str, digits: str) -> tuple[tuple[str, str], str] | None:
    """For "0931-8123456-801": the last dash-separated group as extension, if the rest is valid."""
    _, dash, tail = text.rpartition("-")
    tail = tail.strip()
    if not dash or not re.fullmatch(r"[0-9]{1,6}", tail):
        return None
    try:
        return _landline(digits[: -len(tail)]), tail
    except IdentifierError:
        return None


def parse_phone(value: str) -> Phone:
    """Validate a mainland mobile (optionally +86/0086/86) or landline with area code and extension."""
    text = _clean(value)
    extension = None
    if match := _PHONE_EXTENSION.match(text):
        text, extension = match["main"], match["ext"]
    international = False
    if match := _PHONE_INTERNATIONAL.match(text):
        text, international = text[match.end() :], True
    for char in text:
        if not _PHONE_ALLOWED.fullmatch(char):
            raise IdentifierError("phone_chars", char=char)
    digits = re.sub(r"[^0-9]", "", text)
    if not digits:
        raise IdentifierError("empty", what="phone number")

    if international:
        if not _MOBILE_LIKE.match(digits):
            digits = "0" + digits.removeprefix("0")  # +86 drops the trunk 0; tolerate "+86 (0)931 …"
    elif len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        digits = digits[2:]

    if _MOBILE_LIKE.match(digits):
        if len(digits) != 11:
            raise IdentifierError("phone_mobile_length", length=len(digits))
        if not _MOBILE.fullmatch(digits):
            raise IdentifierError("phone_mobile_prefix", prefix=digits[:2])
        if extension:
            raise IdentifierError("phone_mobile_extension")
        return Phone(number="+86" + digits, kind="mobile")
    if not digits.startswith("0"):
        raise IdentifierError("phone_no_area_code" if 7 <= len(digits) <= 8 else "phone_not_mainland")
    try:
        area, local = _landline(digits)
    except IdentifierError:
        split = None if extension else _split_dash_extension(text, digits)
        if split is None:
            raise
        (area, local), extension = split
    return Phone(number="+86" + area[1:] + local, kind="landline", area_code=area, extension=extension)


# --- masking for display ---------------------------------------------------------------------


def _mask_middle(value: str, keep_start: int, keep_end: int) -> str:
    if len(value) - keep_start - keep_end < 3:
        keep_start = keep_end = len(value) // 4  # too short for the convention: hide at least half
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[len(value) - keep_end :]


def mask_resident_id(value: str) -> str:
    """Keep the first 3 and last 4 characters: ``620***********1234``. Never raises."""
    return _mask_middle(value.strip(), 3, 4)


def mask_phone(value: str) -> str:
    """Keep the first 3 and last 4 digits: ``138****5678``; a ``+86`` prefix is kept as is."""
    value = value.strip()
    prefix = "+86" if value.startswith("+86") else ""
    return prefix + _mask_middle(value.removeprefix(prefix), 3, 4)


def mask_name(value: str) -> str:
    """Keep the first character only: ``张三丰`` -> ``张**``, ``张三`` -> ``张*``."""
    value = value.strip()
    if len(value) <= 1:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 1)
