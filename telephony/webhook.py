"""Twilio webhooks for any line's blueprint: the signature, the parameters, the TwiML reply.

A route decorated with `twilio_request(...)` runs only for a request signed with our auth
token over PUBLIC_BASE_URL + path + query (403 and a log line otherwise) and for our
AccountSid (403 too: signed yet for another account means re-cut). The view then sees only
checked parameters (`read_params`): every value cleaned of control, invisible and
XML-forbidden characters, card numbers masked to their last four, cut to a bound and
checked for its shape; a value that does not fit is empty, which reads as no input. TwiML
goes back as text/xml, XML-safe.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Response, request
from flask.typing import ResponseReturnValue
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from hotline.phones import number_from_carrier
from hotline.redact import clean_input, mask_card_numbers, xml_safe

log = logging.getLogger(__name__)

_PATH_SAFE = "/:@!$&'()*+,;=-._~"
View = TypeVar("View", bound=Callable[..., ResponseReturnValue])

# --- what each parameter may look like -----------------------------------------------------
# Twilio's signature is HMAC(URL + name1 + value1 + name2 + value2 ...) with nothing between
# names and values, so a captured request can be re-cut into other parameters with the same
# signature ("From"="+14155550100To+1800..." or a Digits value swallowing the next name).
# Every value we read therefore has a shape, and one that does not fit reads as no input.
_SIDS = {  # a SID is its two-letter prefix and 32 hex digits
    "CallSid": "CA",
    "ParentCallSid": "CA",
    "DialCallSid": "CA",
    "RecordingSid": "RE",
    "QueueSid": "QU",
    "MessageSid": "SM",
}
_SID_HEX = re.compile(r"[0-9a-fA-F]{32}")
# From/To and their aliases: a valid E.164 number, else no number (phones.number_from_carrier:
# withheld caller ids such as 'anonymous' or '+266696687' are nobody's number).
_NUMBERS = ("From", "To", "Caller", "Called", "ForwardedFrom")
# Values read verbatim (then shape-checked): a card-number-shaped Digits is how a caller
# keys an account number that passes Luhn (one in ten of the issuer's 16-digit numbers),
# and is never stored; SIDs and E.164 numbers have exact shapes that are not card data; a
# Confidence is a number read as one (seventeen decimals of a float32 can pass Luhn).
_UNMASKED = frozenset({"Digits", "FinishedOnKey", "Confidence", "AccountSid", *_SIDS, *_NUMBERS})
_DEFAULT_LIMIT = 200
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")  # other names are no parameter of Twilio's
_ASCII_DIGIT = re.compile(r"[0-9]")
_ALL_BUT_LAST_FOUR_DIGITS = re.compile(r"[0-9](?=(?:[^0-9]*[0-9]){4})")
_WORD = r"[a-z][a-z_-]*"
_SHAPES: dict[str, tuple[int, re.Pattern[str] | None]] = {
    name: (limit, re.compile(shape) if shape else None)
    for name, limit, shape in (
        ("Digits", 40, r"[0-9*#]+"),
        ("FinishedOnKey", 1, r"[0-9*#]"),
        ("SpeechResult", 200, None),
        ("Body", 1600, None),  # a text, up to Twilio's 1,600 characters
        # Any number of decimals: a float32 printed as a double has seventeen.
        ("Confidence", 32, r"0(?:\.[0-9]{1,30})?|1(?:\.0{1,30})?|\.[0-9]{1,30}"),
        ("CallStatus", 16, _WORD),
        ("QueueResult", 32, _WORD),
        ("QueuePosition", 5, r"[0-9]+"),
        ("QueueTime", 8, r"[0-9]+"),
        ("RecordingStatus", 16, _WORD),
        ("RecordingUrl", 300, r"https?://[!-~]+"),
        ("RecordingDuration", 8, r"-?[0-9]+"),
        ("RecordingChannels", 1, r"[12]"),
        ("RecordingStartTime", 40, r"[A-Za-z0-9 ,:+-]+"),
        ("RecordingSource", 32, r"[A-Za-z]+"),
        ("RecordingTrack", 16, _WORD),
        ("Result", 40, _WORD),
        # A gateway's code, whatever its length or content: cut, never refused, since the
        # card was charged and the payment must post (a masked card number in it stays
        # masked; the payment's key is the <Pay> token, not the code).
        ("PaymentConfirmationCode", 200, None),
        ("PaymentCardType", 20, r"(?i)[a-z][a-z -]*"),
        # Twilio's masked number ('xxxx-xxxxxx-x4001'); digits but the last four are masked.
        ("PaymentCardNumber", 30, r"[0-9xX*#. -]+"),
        ("PaymentError", 200, None),
        ("PayErrorCode", 8, r"[0-9]+"),
        # Status callbacks and answering-machine detection (the dialer's calls).
        ("AnsweredBy", 32, r"[a-z_]+"),
        ("SequenceNumber", 8, r"[0-9]+"),
        ("CallDuration", 8, r"[0-9]+"),
        ("SipResponseCode", 3, r"[0-9]{3}"),
        ("ErrorCode", 8, r"[0-9]+"),
        ("CallbackSource", 32, _WORD),
    )
}


def twiml(xml: str) -> Response:
    # The renderer writes only XML-safe text; this also covers replays of TwiML stored
    # before it did, so no path sends a document Twilio cannot parse (error 12100).
    return Response(xml_safe(xml), mimetype="text/xml")


@dataclass(frozen=True)
class Signer:
    """How a line's webhooks are checked: the auth token's validator, the public URL Twilio
    signs, and the account the requests must be for."""

    validator: RequestValidator
    public_base_url: str
    account_sid: str

    @classmethod
    def of(cls, auth_token: str, public_base_url: str, account_sid: str) -> Signer:
        return cls(RequestValidator(auth_token), public_base_url.rstrip("/"), account_sid)

    def url(self, path: str) -> str:
        return self.public_base_url + path


def twilio_request(signer: Callable[[], Signer]) -> Callable[[View], View]:
    """A decorator refusing any request not signed by Twilio (or the simulator) with our
    auth token, or not for our account; the view then sees only checked parameters.

    `signer` is looked up per request (it lives in the app, not at import)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            return _guarded(signer(), view, *args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def _guarded(current: Signer, view: View, *args: Any, **kwargs: Any) -> ResponseReturnValue:
    # Sign what Twilio requested: the public URL, not request.url (a proxy may differ),
    # with the path as it was sent (Flask hands it over percent-decoded).
    query = request.query_string.decode("latin-1")
    url = current.url(quote(request.path, safe=_PATH_SAFE) + (f"?{query}" if query else ""))
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not current.validator.validate(url, request.form, signature):
        return _refused("unsigned webhook", "signature", signature)
    account_sid = request.form.get("AccountSid", "")
    if account_sid != current.account_sid:
        # Signed with our token yet not for our account: a captured request re-cut
        # (or a misconfigured number). Nothing in it is trusted, as if unsigned.
        return _refused("webhook", "AccountSid", account_sid)
    # From here on every reader (this module's routes and helpers) sees only the
    # checked values: werkzeug's cached `form` is replaced for this request.
    request.form = read_params(request.form)
    return view(*args, **kwargs)


def _refused(what: str, field_name: str, given: str) -> Response:
    log.warning(
        "refused %s %s from %s (%s %s)",
        what,
        request.path,
        request.remote_addr,
        field_name,
        "wrong" if given else "missing",
    )
    return Response("Forbidden\n", status=403, mimetype="text/plain")


def read_params(form: MultiDict[str, str]) -> ImmutableMultiDict[str, str]:
    """The request's parameters as the routes may use them: one value per name, cleaned
    of control, invisible and XML-forbidden characters, card numbers masked to their last
    four (so nothing downstream can store or speak one), cut to a bound, and checked for
    shape: a value that does not fit is empty, which every route reads as no input."""
    return ImmutableMultiDict(
        {name: read_param(name, form.get(name) or "") for name in form if _NAME.fullmatch(name)}
    )


def read_param(name: str, raw: str) -> str:
    """One parameter's value as the routes may use it ('' for no input); see read_params."""
    value = clean_input(raw).strip()
    if name not in _UNMASKED:
        value = mask_card_numbers(value)
    prefix = _SIDS.get(name)
    if prefix is not None:
        return value if value[:2] == prefix and _SID_HEX.fullmatch(value[2:]) else ""
    if name in _NUMBERS:
        return number_from_carrier(value) or ""
    limit, shape = _SHAPES.get(name, (_DEFAULT_LIMIT, None))
    if shape is None:
        return value[:limit].strip()
    if len(value) > limit or not shape.fullmatch(value):
        return ""
    if name == "PaymentCardNumber":
        # Whatever a connector reveals, only the last four digits go on; fewer than four
        # is no card number (payment.card_last4 holds four digits or nothing).
        if 0 < len(_ASCII_DIGIT.findall(value)) < 4:
            return ""
        return _ALL_BUT_LAST_FOUR_DIGITS.sub("*", value)
    return value


def field(name: str, limit: int) -> str:
    """A request parameter as read_params left it (checked, masked), cut to `limit`."""
    return (request.form.get(name) or "")[:limit]


# What a <Pay> action carries that the lines read: the result, and masked card data only.
PAY_RESULT_FIELDS = (
    "Result",
    "PaymentConfirmationCode",
    "PaymentCardType",
    "PaymentCardNumber",
    "PaymentError",
)


def pay_result() -> tuple[dict[str, str], str]:
    """A <Pay> action's result fields (checked and masked), and the token of the <Pay> it
    answers: the `pay` query parameter of the action URL the line gave it (digits, or '')."""
    form = {name: field(name, 200) for name in PAY_RESULT_FIELDS}
    raw_token = (request.args.get("pay") or "")[:8]
    return form, raw_token if raw_token.isascii() and raw_token.isdigit() else ""
