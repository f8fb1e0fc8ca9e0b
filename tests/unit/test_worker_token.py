"""The Intercom token secret's forms (``worker.load_token``): the token itself, or JSON holding it."""

from __future__ import annotations

import pytest

from intercom_importer.errors import SettingsError
from intercom_importer.intercom.factory import load_token

pytestmark = pytest.mark.unit

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:intercom-token"
EMPTY = "The Intercom token secret is empty: store the access token in it."


def token_from(secret: str) -> str:
    def fetch(arn: str) -> str:
        assert arn == ARN
        return secret

    return load_token(ARN, fetch)


def test_plain_secret_is_the_token():
    assert token_from("dG9rZW4=") == "dG9rZW4="


def test_plain_secret_is_stripped_of_surrounding_whitespace():
    assert token_from("  dG9rZW4=\n") == "dG9rZW4="


def test_json_secret_gives_its_access_token():
    assert token_from('{"access_token": "dG9rZW4=", "token": "other"}') == "dG9rZW4="


def test_json_secret_gives_its_token_without_an_access_token():
    assert token_from('{"token": "dG9rZW4="}') == "dG9rZW4="


def test_json_secret_with_whitespace_around_and_inside_gives_the_stripped_token():
    assert token_from('\n  {"access_token": " dG9rZW4= "}  ') == "dG9rZW4="


@pytest.mark.parametrize("secret", ["", "   \n"])
def test_empty_secret_is_refused_by_name(secret: str):
    with pytest.raises(SettingsError) as refused:
        token_from(secret)

    assert refused.value.message == EMPTY


def test_secret_that_is_not_valid_json_is_refused_by_name():
    with pytest.raises(SettingsError) as refused:
        token_from('{"access_token": "dG9rZW4="')

    assert refused.value.message == "The Intercom token secret is not valid JSON."


@pytest.mark.parametrize("secret", ['{"api_key": "dG9rZW4="}', '{"access_token": "  "}', "{}"])
def test_json_secret_without_a_token_is_refused_as_empty(secret: str):
    with pytest.raises(SettingsError) as refused:
        token_from(secret)

    assert refused.value.message == EMPTY
