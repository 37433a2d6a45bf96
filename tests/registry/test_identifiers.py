"""Tests for shequ.registry.identifiers (pure module, no database)."""

import re
from datetime import date

import pytest

from shequ.registry.identifiers import (
    MESSAGES,
    PROVINCE_CODES,
    IdentifierError,
    credit_code_check_char,
    make_credit_code,
    make_resident_id,
    mask_name,
    mask_phone,
    mask_resident_id,
    parse_credit_code,
    parse_phone,
    parse_resident_id,
    region_name,
    resident_id_check_char,
)

# The worked example of GB 11643-1999: Beijing Chaoyang, born 1949-12-31, female, check char X.
GB11643_EXAMPLE = "11010519491231002X"


def with_check(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


def error_code(excinfo: pytest.ExceptionInfo[IdentifierError]) -> str:
    return excinfo.value.code


# --- region table ------------------------------------------------------------------------------


def test_region_table_covers_gansu_and_lanzhou_new_area():
    assert region_name("620000") == "甘肃省"
    assert region_name("620100") == "兰州市"
    assert region_name("620102") == "城关区"
    assert region_name("620171") == "兰州新区"


def test_region_table_keeps_abolished_and_recent_codes():
    assert region_name("110103") == "崇文区"  # merged into Dongcheng in 2010; old IDs still carry it
    assert region_name("330113") == "临平区"  # created 2021
    assert region_name("999999") is None


# --- resident ID -------------------------------------------------------------------------------


def test_gb11643_example_parses():
    rid = parse_resident_id(GB11643_EXAMPLE)
    assert rid.number == GB11643_EXAMPLE
    assert rid.region_code == "110105"
    assert rid.birth_date == date(1949, 12, 31)
    assert rid.gender == "female"
    assert rid.kind == "resident"
    assert rid.warnings == ()


def test_check_char_of_gb11643_example():
    assert resident_id_check_char(GB11643_EXAMPLE[:17]) == "X"


@pytest.mark.parametrize("bad", ["1101051949123100", "1101051949123100AB", "110105194912310020X"])
def test_check_char_needs_17_digits(bad):
    with pytest.raises(IdentifierError) as excinfo:
        resident_id_check_char(bad)
    assert error_code(excinfo) == "rid_first17"


@pytest.mark.parametrize(
    "raw", ["11010519491231002x", "  11010519491231002X\n", "１１０１０５１９４９１２３１００２ｘ"]
)
def test_resident_id_normalises_case_whitespace_and_full_width(raw):
    assert parse_resident_id(raw).number == GB11643_EXAMPLE


def test_gender_follows_parity_of_17th_digit():
    born = date(1990, 1, 1)
    assert parse_resident_id(make_resident_id("620171", born, 123)).gender == "male"
    assert parse_resident_id(make_resident_id("620171", born, 124)).gender == "female"
    assert parse_resident_id(make_resident_id("620171", born, 0)).gender == "female"


def test_lanzhou_new_area_is_known():
    rid = parse_resident_id(make_resident_id("620171", date(1990, 1, 1), 123))
    assert rid.region_code == "620171"
    assert rid.warnings == ()


def test_unknown_county_is_only_a_warning():
    rid = parse_resident_id(make_resident_id("620199", date(1990, 1, 1), 123))
    assert rid.region_code == "620199"
    assert rid.warnings == (MESSAGES["rid_unknown_region"].format(region="620199"),)


def test_15_digit_number_is_rejected_with_conversion_hint():
    with pytest.raises(IdentifierError, match="18-digit") as excinfo:
        parse_resident_id("110105491231002")
    assert error_code(excinfo) == "rid_15_digits"


@pytest.mark.parametrize("raw", ["1101051949123100", "11010519491231002X1", "1"])
def test_wrong_length_is_rejected(raw):
    with pytest.raises(IdentifierError, match=f"got {len(raw)}") as excinfo:
        parse_resident_id(raw)
    assert error_code(excinfo) == "rid_length"


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_resident_id(raw):
    with pytest.raises(IdentifierError) as excinfo:
        parse_resident_id(raw)
    assert error_code(excinfo) == "empty"


@pytest.mark.parametrize(
    "raw", ["11010519491231002A", "1101051949123100X2", "11010519491231-02X", "x10105194912310021"]
)
def test_non_digits_are_rejected(raw):
    with pytest.raises(IdentifierError) as excinfo:
        parse_resident_id(raw)
    assert error_code(excinfo) == "rid_chars"


@pytest.mark.parametrize("region", ["000000", "161234", "390101", "720000", "840000", "590000"])
def test_unknown_province_is_an_error(region):
    with pytest.raises(IdentifierError, match=f"province code {region[:2]}") as excinfo:
        parse_resident_id(with_check(f"{region}19900101123"))
    assert error_code(excinfo) == "rid_province"


def test_all_listed_province_codes_are_accepted():
    for province in PROVINCE_CODES:
        rid = parse_resident_id(with_check(f"{province}000019900101123"))
        assert rid.region_code == f"{province}0000"


@pytest.mark.parametrize("birth", ["19900230", "19901301", "19900001", "19900100", "20230229"])
def test_impossible_birth_date_is_rejected(birth):
    with pytest.raises(IdentifierError, match=birth) as excinfo:
        parse_resident_id(with_check(f"620171{birth}123"))
    assert error_code(excinfo) == "rid_birth_invalid"


def test_leap_day_birth_date_is_accepted():
    assert parse_resident_id(with_check("62017120000229123")).birth_date == date(2000, 2, 29)


def test_birth_before_1900_is_rejected():
    # Also a published GB 11643 example number, with a correct check digit.
    with pytest.raises(IdentifierError, match="1880-01-01") as excinfo:
        parse_resident_id("440524188001010014")
    assert error_code(excinfo) == "rid_birth_before_1900"


def test_birth_in_the_future_is_rejected():
    number = with_check("62017120300101123")
    with pytest.raises(IdentifierError, match=r"2030-01-01 .* future") as excinfo:
        parse_resident_id(number, today=date(2029, 12, 31))
    assert error_code(excinfo) == "rid_birth_future"
    assert parse_resident_id(number, today=date(2030, 1, 1)).birth_date == date(2030, 1, 1)


def test_wrong_check_char_names_the_expected_one():
    with pytest.raises(IdentifierError) as excinfo:
        parse_resident_id("110105194912310021")
    assert str(excinfo.value) == "check character is 1, expected X"
    assert excinfo.value.params == {"actual": "1", "expected": "X"}


def test_hong_kong_macao_taiwan_residence_permits():
    for region in ("810000", "820000", "830000"):
        rid = parse_resident_id(make_resident_id(region, date(1985, 6, 15), 31))
        assert rid.kind == "hmt_residence_permit"
        assert rid.region_code == region
        assert rid.warnings == ()


def test_foreign_permanent_residence_card():
    # 9, issuing province (11 Beijing), nationality code (840), birth date, sequence, check char.
    rid = parse_resident_id(with_check("91184019800101123"))
    assert rid.kind == "foreign_permanent_residence"
    assert rid.region_code == "110000"
    assert rid.nationality_code == "840"
    assert rid.birth_date == date(1980, 1, 1)
    assert rid.warnings == ()
    with pytest.raises(IdentifierError) as excinfo:
        parse_resident_id(with_check("98184019800101123"))  # 81 (Hong Kong) never issues these
    assert error_code(excinfo) == "rid_province"


def test_make_resident_id_round_trips():
    for region, born, sequence in [
        ("620171", date(1990, 1, 1), 1),
        ("620102", date(1900, 1, 1), 999),
        ("110105", date(1949, 12, 31), 2),
        ("310115", date(2024, 2, 29), 500),
    ]:
        number = make_resident_id(region, born, sequence)
        rid = parse_resident_id(number)
        assert (rid.region_code, rid.birth_date, number[14:17]) == (region, born, f"{sequence:03d}")
    assert make_resident_id("110105", date(1949, 12, 31), 2) == GB11643_EXAMPLE


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("62017", date(1990, 1, 1), 1), "rid_region_format"),
        (("62017a", date(1990, 1, 1), 1), "rid_region_format"),
        (("620171", date(1990, 1, 1), 1000), "rid_sequence"),
        (("620171", date(1990, 1, 1), -1), "rid_sequence"),
        (("990000", date(1990, 1, 1), 1), "rid_province"),
        (("620171", date(1899, 12, 31), 1), "rid_birth_before_1900"),
    ],
)
def test_make_resident_id_rejects_bad_input(args, code):
    with pytest.raises(IdentifierError) as excinfo:
        make_resident_id(*args)
    assert error_code(excinfo) == code


# --- unified social credit code ------------------------------------------------------------------

# Published codes: Huawei Technologies Co., Ltd.; Shenzhen Tencent Computer Systems Co., Ltd.;
# Alibaba (China) Co., Ltd.
REAL_CREDIT_CODES = [
    ("914403001922038216", "440300", "192203821"),
    ("9144030071526726XG", "440300", "71526726X"),
    ("91330100716105852F", "330100", "716105852"),
]


@pytest.mark.parametrize(("number", "region", "organization"), REAL_CREDIT_CODES)
def test_real_credit_codes_parse(number, region, organization):
    code = parse_credit_code(number)
    assert code.number == number
    assert code.registration_authority == "9"
    assert code.organization_type == "1"
    assert code.region_code == region
    assert code.organization_code == organization
    assert code.warnings == ()
    assert credit_code_check_char(number[:17]) == number[17]


@pytest.mark.parametrize(("number", "region", "organization"), REAL_CREDIT_CODES)
def test_make_credit_code_reproduces_real_codes(number, region, organization):
    # From the 8-character organization code: exercises the GB 11714 check too.
    assert make_credit_code(region, organization[:8]) == number
    assert make_credit_code(region, organization) == number


def test_credit_code_is_normalised_to_upper_case():
    assert parse_credit_code(" 9144030071526726xg ").number == "9144030071526726XG"


@pytest.mark.parametrize("raw", ["91440300192203821", "9144030019220382166"])
def test_credit_code_wrong_length(raw):
    with pytest.raises(IdentifierError, match=f"got {len(raw)}") as excinfo:
        parse_credit_code(raw)
    assert error_code(excinfo) == "cc_length"


@pytest.mark.parametrize(
    ("raw", "char", "position"), [("9144030019220382I6", "I", 17), ("O14403001922038216", "O", 1)]
)
def test_credit_code_letters_outside_alphabet(raw, char, position):
    with pytest.raises(IdentifierError) as excinfo:
        parse_credit_code(raw)
    assert error_code(excinfo) == "cc_char"
    assert excinfo.value.params == {"char": char, "position": position}


def test_credit_code_unknown_registration_authority():
    with pytest.raises(IdentifierError, match="'B'") as excinfo:
        parse_credit_code("B14403001922038216")
    assert error_code(excinfo) == "cc_authority"


def test_credit_code_region_must_be_digits():
    first17 = "9144A300192203821"
    with pytest.raises(IdentifierError) as excinfo:
        parse_credit_code(first17 + credit_code_check_char(first17))
    assert error_code(excinfo) == "cc_region_format"


def test_credit_code_wrong_check_char():
    with pytest.raises(IdentifierError) as excinfo:
        parse_credit_code("914403001922038217")
    assert str(excinfo.value) == "check character is 7, expected 6"


def test_credit_code_unknown_region_is_a_warning():
    code = parse_credit_code(make_credit_code("629999", "12345678"))
    assert code.warnings == (MESSAGES["cc_unknown_region"].format(region="629999"),)
    assert parse_credit_code(make_credit_code("100000", "12345678")).warnings == ()  # central level


def test_make_credit_code_for_other_authorities():
    number = make_credit_code("620171", "MA7XYW12", registration_authority="5", organization_type="2")
    code = parse_credit_code(number)
    assert (code.registration_authority, code.organization_type, code.region_code) == ("5", "2", "620171")


@pytest.mark.parametrize(
    ("args", "kwargs", "code"),
    [
        (("62017", "12345678"), {}, "cc_region_format"),
        (("620171", "1234567"), {}, "cc_organization_code"),
        (("620171", "1234567I"), {}, "cc_organization_code"),
        (("620171", "12345678"), {"registration_authority": "Z"}, "cc_first17"),
        (("620171", "12345678"), {"registration_authority": "B"}, "cc_authority"),
    ],
)
def test_make_credit_code_rejects_bad_input(args, kwargs, code):
    with pytest.raises(IdentifierError) as excinfo:
        make_credit_code(*args, **kwargs)
    assert error_code(excinfo) == code


# --- phone numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "(+86) 138-1234-5678",
        "0086 13812345678",
        "8613812345678",
        "１３８１２３４５６７８",
    ],
)
def test_mobile_variants(raw):
    phone = parse_phone(raw)
    assert (phone.kind, phone.number, phone.national) == ("mobile", "+8613812345678", "13812345678")
    assert phone.area_code is None
    assert phone.extension is None


@pytest.mark.parametrize(
    ("raw", "number", "area", "extension"),
    [
        ("0931-8123456", "+869318123456", "0931", None),  # Lanzhou, 7-digit local number
        ("0931-88123456", "+8693188123456", "0931", None),
        ("(0931) 8123456", "+869318123456", "0931", None),
        ("09318123456", "+869318123456", "0931", None),
        ("010-12345678", "+861012345678", "010", None),
        ("021 6123 4567", "+862161234567", "021", None),
        ("+86 931 8123456", "+869318123456", "0931", None),
        ("+86 10 1234 5678", "+861012345678", "010", None),
        ("+86 (0)931 8123456", "+869318123456", "0931", None),
        ("0931-8123456-801", "+869318123456", "0931", "801"),
        ("0931-8123456 转 801", "+869318123456", "0931", "801"),
        ("010-12345678 ext. 12", "+861012345678", "010", "12"),
        ("010-12345678#12", "+861012345678", "010", "12"),
    ],
)
def test_landline_variants(raw, number, area, extension):
    phone = parse_phone(raw)
    assert (phone.kind, phone.number, phone.area_code, phone.extension) == (
        "landline",
        number,
        area,
        extension,
    )
    assert phone.national == "0" + number[3:]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "empty"),
        ("  -  ", "empty"),
        ("138123456", "phone_mobile_length"),
        ("138123456789", "phone_mobile_length"),
        ("12812345678", "phone_mobile_prefix"),
        ("13812345678 ext 12", "phone_mobile_extension"),
        ("138-1234-567a", "phone_chars"),
        ("tel: 13812345678", "phone_chars"),
        ("8123456", "phone_no_area_code"),
        ("95588", "phone_not_mainland"),
        ("0931-123456", "phone_local_length"),
        ("0931-123456789", "phone_local_length"),
        ("010-1234567", "phone_local_length"),
        ("0931-08123456", "phone_local_zero"),
        ("011-12345678", "phone_area_code"),
        ("0", "phone_not_mainland"),
    ],
)
def test_phone_rejections(raw, code):
    with pytest.raises(IdentifierError) as excinfo:
        parse_phone(raw)
    assert error_code(excinfo) == code


def test_phone_messages_are_specific():
    with pytest.raises(
        IdentifierError, match=r"^local number after area code 010 must have 8 digits, got 7$"
    ):
        parse_phone("010-1234567")
    with pytest.raises(IdentifierError, match=r"^mobile number must have 11 digits, got 9$"):
        parse_phone("138123456")


# --- masking -----------------------------------------------------------------------------------------


def test_mask_resident_id_keeps_first_3_and_last_4():
    assert mask_resident_id("620171199001011234") == "620***********1234"
    assert mask_resident_id(GB11643_EXAMPLE) == "110***********002X"


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+8613812345678") == "+86138****5678"
    assert mask_phone(parse_phone("0931-8123456").number) == "+86931***3456"


def test_mask_name():
    assert mask_name("张三丰") == "张**"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳修") == "欧**"
    assert mask_name("张") == "*"
    assert mask_name("") == ""


@pytest.mark.parametrize("value", ["", "1", "12", "123", "1234567", "12345678", "123456789012345678901"])
def test_masks_never_raise_and_hide_the_middle(value):
    for mask in (mask_resident_id, mask_phone, mask_name):
        masked = mask(value)
        assert len(masked) == len(value)
        if len(value) >= 2:
            assert "*" in masked
            assert masked.count("*") >= len(value) // 2 or len(value) >= 11


# --- messages ------------------------------------------------------------------------------------------


def test_messages_are_plain_single_line_strings():
    for code, text in MESSAGES.items():
        assert text and "\n" not in text, code
        assert re.fullmatch(r"[ -~]+", text), code  # ASCII: translated in the UI, not here


def test_identifier_error_is_a_value_error():
    with pytest.raises(ValueError, match="is empty"):
        parse_credit_code("")
