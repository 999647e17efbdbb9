"""The search engine's client is built with the TLS and credentials of the settings, verifying
certificates unless told not to."""

import ssl
from pathlib import Path

import pytest

from parley_search.engine import connect_engine, engine_options
from parley_search.settings import SearchSettings


def test_local_engine_has_no_credentials_and_verifies_certificates() -> None:
    assert engine_options(SearchSettings()) == {"verify_certs": True}


def test_elasticsearch_takes_an_api_key_over_basic_auth_and_a_ca_file() -> None:
    settings = SearchSettings(
        engine="elasticsearch",
        elasticsearch_url="https://es.internal:9200",
        elasticsearch_ca_file="/etc/parley/es-ca.pem",
        elasticsearch_api_key="aWQ6a2V5",
        elasticsearch_username="parley",
        elasticsearch_password="pw",
    )
    assert engine_options(settings) == {
        "verify_certs": True,
        "ca_certs": "/etc/parley/es-ca.pem",
        "api_key": "aWQ6a2V5",
    }


def test_basic_auth_in_each_clients_words() -> None:
    values = {"elasticsearch_username": "parley", "elasticsearch_password": "pw"}
    elasticsearch = SearchSettings.model_validate({"engine": "elasticsearch", **values})
    opensearch = SearchSettings.model_validate({"engine": "opensearch", **values})
    assert engine_options(elasticsearch)["basic_auth"] == ("parley", "pw")
    assert engine_options(opensearch)["http_auth"] == ("parley", "pw")
    keyed = SearchSettings(engine="opensearch", elasticsearch_api_key="aWQ6a2V5")
    assert engine_options(keyed)["headers"] == {"Authorization": "ApiKey aWQ6a2V5"}


def test_verification_is_off_only_when_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_SEARCH_ELASTICSEARCH_VERIFY_CERTS", "false")
    assert engine_options(SearchSettings())["verify_certs"] is False


def test_the_ca_file_reaches_the_client(tmp_path: Path) -> None:
    not_a_certificate = tmp_path / "ca.pem"
    not_a_certificate.write_text("not a certificate\n")
    settings = SearchSettings(
        engine="elasticsearch",
        elasticsearch_url="https://es.internal:9200",
        elasticsearch_ca_file=str(not_a_certificate),
    )
    with pytest.raises(ssl.SSLError):
        connect_engine(settings)
