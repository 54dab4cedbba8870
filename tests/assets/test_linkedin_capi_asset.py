"""The ``linkedin-capi://`` asset URI, as Airflow itself resolves it through the provider's ``asset-uris``."""

from __future__ import annotations

import pytest
from airflow.sdk import Asset

from airflow_provider_linkedin_capi.assets import linkedin_capi
from airflow_provider_linkedin_capi.assets.linkedin_capi import create_asset
from airflow_provider_linkedin_capi.get_provider_info import get_provider_info


@pytest.mark.parametrize(
    "written",
    [
        "linkedin-capi://510000001/conversion/14488340",
        "linkedin-capi://urn:li:sponsoredAccount:510000001/conversion/14488340",
        "linkedin-capi://510000001/conversion/urn:lla:llaPartnerConversion:14488340",
        "linkedin-capi://urn%3Ali%3AsponsoredAccount%3A510000001/conversion/urn%3Alla%3AllaPartnerConversion%3A14488340/",
        "LINKEDIN-CAPI://0510000001/conversion/014488340?x=1#top",
    ],
)
def test_every_spelling_of_a_rule_names_the_same_asset(written):
    assert Asset(written).uri == "linkedin-capi://510000001/conversion/14488340"


@pytest.mark.parametrize(
    "malformed",
    [
        "linkedin-capi://acme/conversion/14488340",
        "linkedin-capi://510000001/conversion/abc",
        "linkedin-capi://510000001/rule/14488340",
        "linkedin-capi://510000001/conversion",
        "linkedin-capi:///conversion/14488340",
        "linkedin-capi://510000001/conversion/14488340/extra",
        "linkedin-capi://urn:li:sponsoredCampaign:5/conversion/14488340",
    ],
)
def test_a_malformed_uri_is_refused_when_the_dag_is_parsed(malformed):
    with pytest.raises(ValueError, match="linkedin-capi"):
        Asset(malformed)


def test_the_factory_accepts_ids_and_urns():
    asset = create_asset("urn:li:sponsoredAccount:510000001", "urn:lla:llaPartnerConversion:14488340")
    assert asset == create_asset(510000001, 14488340)
    assert asset.uri == asset.name == "linkedin-capi://510000001/conversion/14488340"


def test_airflow_registers_handler_factory_and_openlineage_converter():
    (entry,) = get_provider_info()["asset-uris"]
    assert entry["schemes"] == [linkedin_capi.SCHEME]
    try:  # where tasks look handlers up since Airflow 3.2
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:  # Airflow 3.1
        from airflow.providers_manager import ProvidersManager as Manager

    manager = Manager()
    assert manager.asset_uri_handlers[linkedin_capi.SCHEME] is linkedin_capi.sanitize_uri
    assert manager.asset_factories[linkedin_capi.SCHEME] is linkedin_capi.create_asset
    converter = manager.asset_to_openlineage_converters[linkedin_capi.SCHEME]
    assert converter is linkedin_capi.convert_asset_to_openlineage


def test_openlineage_names_the_asset_as_the_push_names_its_output():
    pytest.importorskip("airflow.providers.openlineage", reason="the openlineage extra is not installed")
    from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset

    dataset = translate_airflow_asset(
        Asset("linkedin-capi://urn:li:sponsoredAccount:510000001/conversion/14488340"), None
    )
    assert (dataset.namespace, dataset.name) == (
        "linkedin-capi://api.linkedin.com",
        "510000001/conversion/14488340",
    )


def test_a_linkedin_hook_as_lineage_context_gives_its_own_host(sandbox):
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook

    pytest.importorskip("airflow.providers.openlineage", reason="the openlineage extra is not installed")
    dataset = linkedin_capi.convert_asset_to_openlineage(create_asset(1, 2), LinkedInCapiHook())
    host = sandbox.rest_url.split("://", 1)[1].split("/", 1)[0]
    assert dataset.namespace == f"linkedin-capi://{host}"
    assert dataset.name == "1/conversion/2"
