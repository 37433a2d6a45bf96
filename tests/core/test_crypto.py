from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from shequ.core import crypto
from shequ.registry.services import create_person, find_person_by_id_number

ID = "11010519491231002X"


def test_round_trip_and_fresh_nonce():
    a, b = crypto.encrypt("13812345678"), crypto.encrypt("13812345678")
    assert a != b and "13812345678" not in a
    assert crypto.decrypt(a) == crypto.decrypt(b) == "13812345678"


def test_tampered_ciphertext_is_refused():
    token = crypto.encrypt("secret")
    body = token.rsplit(".", 1)
    tampered = body[0] + "." + ("A" if body[1][0] != "A" else "B") + body[1][1:]
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag or a decoding error
        crypto.decrypt(tampered)


def test_keys_rotate(settings):
    old = crypto.encrypt("old value")
    crypto._keys.cache_clear()
    try:
        with override_settings(FIELD_ENCRYPTION_KEYS=["a-new-key", *settings.FIELD_ENCRYPTION_KEYS]):
            crypto._keys.cache_clear()
            new = crypto.encrypt("new value")
            assert crypto.decrypt(old) == "old value" and crypto.decrypt(new) == "new value"
            assert new.split(".")[1] != old.split(".")[1]
    finally:
        crypto._keys.cache_clear()


def test_keyed_hash_separates_kinds():
    assert crypto.keyed_hash("resident_id", ID) == crypto.keyed_hash("resident_id", ID)
    assert crypto.keyed_hash("resident_id", ID) != crypto.keyed_hash("phone", ID)


@pytest.mark.django_db
def test_person_identifiers_are_encrypted_at_rest_and_found_by_hash(system_user):
    person = create_person(
        {"name": "张三", "id_number": ID.lower(), "phone": "138 1234 5678"}, actor=system_user
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number, phone FROM registry_person WHERE id = %s", [person.pk])
        raw_id, raw_phone = cursor.fetchone()
    assert ID not in raw_id and "5678" not in raw_phone and raw_id.startswith("v1.")
    assert find_person_by_id_number(ID) == person
    person.refresh_from_db()
    assert (person.id_number, person.gender, str(person.birth_date)) == (ID, "female", "1949-12-31")
