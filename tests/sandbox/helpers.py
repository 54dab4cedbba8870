"""Helpers for talking to the sandbox the way a LinkedIn client would, over real HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from airflow_provider_linkedin_capi.sandbox import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN

CONVERSION = "urn:lla:llaPartnerConversion:"
CAMPAIGN = "urn:li:sponsoredCampaign:"
ACCOUNT_URN = "urn:li:sponsoredAccount:510000001"


def refresh(sandbox, **overrides) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **overrides,
    }
    return requests.post(sandbox.token_url, data={k: v for k, v in form.items() if v is not None}, timeout=10)


def link_key(campaign_id: object, rule_id: object) -> str:
    campaign = f"urn%3Ali%3AsponsoredCampaign%3A{campaign_id}"
    conversion = f"urn%3Alla%3AllaPartnerConversion%3A{rule_id}"
    return f"(campaign:{campaign},conversion:{conversion})"


@dataclass
class Api:
    """A minimal LinkedIn client: a fresh 3-legged token, an active version, Rest.li 2.0."""

    sandbox: object
    token: str
    version: str

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "LinkedIn-Version": self.version,
            "X-Restli-Protocol-Version": "2.0.0",
        }
        headers.update(extra)
        return {k: v for k, v in headers.items() if v is not None}

    def call(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> requests.Response:
        return requests.request(
            method, self.sandbox.rest_url + path, headers=headers or self.headers(), timeout=30, **kwargs
        )

    def send_events(self, elements: list[dict], **header_overrides: str) -> requests.Response:
        headers = self.headers(**{"X-RestLi-Method": "BATCH_CREATE", **header_overrides})
        return self.call("POST", "/conversionEvents", headers=headers, json={"elements": elements})

    def create_rule(self, query: str = "", **fields) -> requests.Response:
        body = {"name": "CRM purchases", "account": ACCOUNT_URN, "type": "PURCHASE", **fields}
        return self.call("POST", "/conversions" + query, json=body)


def event(rule_id: object, event_id: str | None = "evt-1", **overrides) -> dict:
    body = {
        "conversion": f"{CONVERSION}{rule_id}",
        "conversionHappenedAt": int(time.time() * 1000) - 3_600_000,
        "conversionValue": {"currencyCode": "USD", "amount": "12.50"},
        "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": "ab" * 32}]},
    }
    if event_id is not None:
        body["eventId"] = event_id
    body.update(overrides)
    return body
