"""<Pay>: collecting a card stage by stage, with Twilio's results and masked fields.

What the caller keys is never in the transcript; each stage notes whether a recording was
running, so a test can prove card data stayed out of recordings (PCI DSS).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from simulator import twiml
from simulator.callees import Card
from simulator.carrier.interpreter import Interpreter
from simulator.carrier.records import SimCall, _CallOver, _resolve


class PayVerbs(Interpreter):
    """The <Pay> verb against the callee's scripted card."""

    def _verb_pay(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]]:
        self._ensure_answered(call)
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else doc_url
        connector = verb.get("paymentConnector", "Default")
        amount = verb.get("chargeAmount")
        detail = {"connector": connector, "amount": amount, "currency": verb.get("currency", "usd")}
        self._note(call, "pay", {"stage": "start", **detail})
        if action and action.startswith("http://"):
            self._note(call, "warning", {"message": "Twilio requires an https action for <Pay>"})
        card = call.party.script.card if call.party else Card()
        callback = verb.get("statusCallback")
        status_callback = _resolve(doc_url, callback) if callback else None
        max_attempts = max(1, min(3, twiml.attr_int(verb, "maxAttempts", 1)))
        params: dict[str, str] = {"PaymentMethod": verb.get("paymentMethod", "credit-card")}
        if connector not in self.payment_connectors:
            self._note(
                call,
                "error",
                {"code": 64004, "message": f"unknown payment connector {connector!r}"},
            )
            params.update(
                {
                    "Result": "payment-connector-error",
                    "PaymentError": f"Pay Connector {connector!r} not found",
                    "PayErrorCode": "64004",
                }
            )
            return action, "POST", None, params
        stages = ["payment-card-number", "expiration-date"]
        if twiml.attr_bool(verb, "securityCode", True):
            stages.append("security-code")
        if verb.get("postalCode", "true") != "false":
            stages.append("postal-code")
        attempts = max_attempts if card.outcome == "too-many-failed-attempts" else 1
        masked = {
            "PaymentCardNumber": f"xxxx-xxxx-xxxx-{card.last4}",
            "PaymentCardType": card.brand,
            "ExpirationDate": card.expiry,
            "SecurityCode": "xxx",
            "PaymentCardPostalCode": card.postal_code,
        }
        for attempt in range(1, attempts + 1):
            for stage in stages:
                if card.outcome == "caller-interrupted-with-star" and stage == "expiration-date":
                    self._note(call, "input", {"digits": "*"})
                    params.update({"Result": "caller-interrupted-with-star"})
                    return action, "POST", None, params
                if card.outcome == "caller-hung-up" and stage == "security-code":
                    self._note(call, "hangup", {"by": "callee during <Pay>"})
                    params.update({"Result": "caller-hung-up"})
                    self._request(
                        call,
                        action or "",
                        "POST",
                        {**self._base_params(call, "completed"), **params},
                        kind="fetch",
                    )
                    raise _CallOver
                self._pay_status(call, status_callback, stage, attempt, masked)
                self._pace(call, 4.0)  # the caller keys the field
        self._pay_status(call, status_callback, "payment-processing", attempts, masked)
        self._pace(call, 2.0)
        outcome = card.outcome
        if outcome == "success":
            params.update(masked)
            params.update(
                {"Result": "success", "PaymentConfirmationCode": "ch_" + self._token_hex(12)}
            )
            if not amount or amount in ("0", "0.00"):
                params.pop("PaymentConfirmationCode")
                params["PaymentToken"] = "tok_" + self._token_hex(12)
        elif outcome == "declined":
            params.update(
                {
                    "Result": "payment-connector-error",
                    "PaymentError": "card is declined",
                    "ConnectorError": "card_declined",
                    "PaymentCardNumber": masked["PaymentCardNumber"],
                    "PaymentCardType": card.brand,
                }
            )
        elif outcome == "too-many-failed-attempts":
            params.update(
                {"Result": "too-many-failed-attempts", "PaymentError": "invalid-card-number"}
            )
        else:  # connector-error
            params.update(
                {
                    "Result": "payment-connector-error",
                    "PaymentError": "payment gateway did not respond",
                    "ConnectorError": "gateway_timeout",
                }
            )
        self._note(call, "pay", {"stage": "result", "result": params["Result"]})
        return action, "POST", None, params

    def _pay_status(
        self, call: SimCall, url: str | None, stage: str, attempt: int, masked: Mapping[str, str]
    ) -> None:
        # What a caller keys into <Pay> must never be in a recording (PCI DSS).
        recorded = any(r.active for r in call.recordings)
        if recorded and stage != "payment-processing":
            call.card_data_recorded = True
        self._note(call, "pay", {"stage": stage, "attempt": attempt, "recorded": recorded})
        if not url:
            return
        captured = {
            "payment-card-number": ("PaymentCardNumber", "PaymentCardType"),
            "expiration-date": ("ExpirationDate",),
            "security-code": ("SecurityCode",),
            "postal-code": ("PaymentCardPostalCode",),
        }
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "For": stage,
            "Attempt": str(attempt),
        }
        for name in captured.get(stage, ()):
            params[name] = masked[name]
        self._request(call, url, "POST", params, kind="callback", label=f"pay {stage}")
