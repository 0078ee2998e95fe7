"""SMS: the Messages API, delivery with status callbacks, and texts to the line.

Outbound: `POST Messages.json` is validated with Twilio's codes, recorded `queued` (or
`accepted` with a Messaging Service), then moves through `sending` and `sent` to how the
recipient's script says it ends (`delivered`, `undelivered`, `failed`), each step on the
carrier clock and each change after the first sent to the StatusCallback, signed.

Inbound: a person texts the line (`text_line`, from `POST /sim/sms`, `hotline sms` or a
callee's `sms_replies`). Twilio's own keywords are applied first (STOP blocks that sender
for that texter, START lifts it, HELP answers), then the text goes to the app's SMS URL,
signed, and every <Message> in the app's TwiML answer is sent back as a reply.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import requests

from simulator.carrier import sms_rules
from simulator.carrier.connection import DEFAULTS as CONNECTION_DEFAULTS
from simulator.carrier.records import ApiError, Message, _resolve, new_sid
from simulator.carrier.rest import RestApi, _dialable, _first
from simulator.signing import signature

log = logging.getLogger(__name__)

# Seconds of carrier time between a message's steps: handed to the carrier, out to the
# network, then the handset's delivery receipt.
SENDING_AFTER = 0.5
SENT_AFTER = 0.5
RECEIPT_AFTER = 2.0


class Messaging(RestApi):
    """The carrier's SMS part: what the Messages API and a texting person do."""

    def __init__(
        self,
        *,
        sms_url: str | None = None,
        messaging_service_sid: str | None = None,
        **carrier_settings: Any,
    ) -> None:
        super().__init__(**carrier_settings)
        # Where texts to the line go; None: like a number with no messaging URL, Twilio
        # still applies its keywords and auto-replies, and tells no one.
        self.sms_url = sms_url
        # The account's Messaging Service, holding all of its numbers (None: it has none).
        self.messaging_service_sid = messaging_service_sid
        # (sender, texter) pairs blocked by a STOP; the sender is the Messaging Service when
        # there is one (a STOP to one of its numbers blocks the whole service), else the
        # number that was texted.
        self.opted_out: set[tuple[str, str]] = set()
        self._replies_used: dict[str, int] = {}

    # --- the Messages API ------------------------------------------------------------

    def send_message(self, form: Mapping[str, list[str]]) -> Message:
        """POST Messages.json: validate like Twilio, record, deliver in the background.

        Returns the message as created, before any delivery step (so the API answers with
        the initial status even when virtual time has already delivered it).
        """
        one = functools.partial(_first, form)
        to, from_, service, body = one("To"), one("From"), one("MessagingServiceSid"), one("Body")
        if not to:
            raise ApiError(400, 21604, "A 'To' phone number is required.")
        if not _dialable(to):
            raise ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if service:
            if not sms_rules.well_formed_service_sid(service):
                raise ApiError(400, 21705, f"The Messaging Service Sid {service} is invalid.")
            if service != self.messaging_service_sid:
                raise ApiError(400, 21701, f"The Messaging Service Sid {service} does not exist.")
        elif not from_:
            raise ApiError(400, 21603, "A 'From' phone number is required.")
        if from_:
            if not _dialable(from_):
                raise ApiError(400, 21212, f"Invalid From Number (caller ID): {from_}")
            if from_ not in self.numbers:
                raise ApiError(
                    400,
                    21606,
                    f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                    "number or short code for your account.",
                )
            if to == from_:
                raise ApiError(400, 21266, "'To' and 'From' numbers cannot be the same.")
        if not body:
            raise ApiError(400, 21602, "Message body is required.")
        if len(body) > sms_rules.MAX_BODY:
            raise ApiError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        callback = one("StatusCallback")
        if callback is not None and not sms_rules.callback_url(callback):
            raise ApiError(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        sender = from_ or sorted(self.numbers)[0]  # the service's pool: the account's numbers
        script = self.script_for(to)
        if self._opted_out(sender, to):
            raise ApiError(400, 21610, sms_rules.ERROR_MESSAGES[21610])
        if not script.sms_capable:
            raise ApiError(400, 21614, "'To' number is not a valid mobile number")
        if script.line == "landline" and sms_rules.country(to) not in sms_rules.LANDLINE_ATTEMPTED:
            raise ApiError(400, 21635, "'To' number cannot be a landline")
        message = self._record_message(
            to,
            sender,
            body,
            direction="outbound-api",
            service=service,
            status_callback=callback,
        )
        created = dataclasses.replace(message, events=list(message.events))
        self._pool.submit(self._deliver_message_guarded, message)
        return created

    def get_message(self, sid: str) -> Message:
        with self._lock:
            found = next((m for m in self.messages if m.sid == sid), None)
        if found is None:
            raise ApiError(404, 20404, f"The requested resource /Messages/{sid}.json was not found")
        return found

    def list_messages(self) -> list[Message]:
        """Newest first, as Twilio lists them."""
        with self._lock:
            ordered = list(enumerate(self.messages))
        ordered.sort(key=lambda pair: (pair[1].created_at, pair[0]), reverse=True)
        return [message for _, message in ordered]

    def wait_messages(self, timeout: float = 30.0) -> None:
        """Until every message, and every reply they set off, has reached its end."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [m for m in self.messages if not m.done.is_set()]
            if not pending:
                return
            for message in pending:
                if not message.done.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"message {message.sid} still {message.status}")

    # --- texts to the line -----------------------------------------------------------

    def text_line(
        self, from_: str, body: str, to: str | None = None
    ) -> tuple[Message, list[Message]]:
        """A person texts the line: Twilio's keywords, then the app's SMS URL.

        Returns the inbound message and the replies it got (Twilio's own auto-reply, then
        the app's), in the order they were sent.
        """
        if not _dialable(from_):
            raise ApiError(400, 21212, f"Invalid From Number: {from_}")
        line = to or sorted(self.numbers)[0]
        if line not in self.numbers:
            raise ApiError(400, 21606, f"{line} is not a number of this account")
        inbound = self._record_message(
            line,
            from_,
            body,
            direction="inbound",
            service=self.messaging_service_sid,
            status="received",
        )
        inbound.sent_offset = 0.0
        inbound.done.set()
        replies = []
        auto = self._apply_keyword(inbound)
        if auto is not None:
            replies.append(self._send_reply(inbound, sms_rules.ReplyMessage(auto), by_twilio=True))
        if self.sms_url:
            replies.extend(self._ask_app_about_text(inbound))
        else:
            self._message_event(inbound, "webhook", {"skipped": "the number has no SMS URL"})
        return inbound, replies

    def _apply_keyword(self, inbound: Message) -> str | None:
        """Twilio's default keyword handling; the auto-reply text, if any."""
        kind = sms_rules.keyword(inbound.body)
        pair = (self._sender_scope(inbound.to), inbound.from_)
        with self._lock:
            blocked = pair in self.opted_out
            if kind == "STOP":
                self.opted_out.add(pair)
            elif kind == "START":
                self.opted_out.discard(pair)
        if kind is not None:
            self._message_event(inbound, "keyword", {"type": kind})
        if kind == "STOP":
            return sms_rules.OPT_OUT_REPLY
        if kind == "START":
            return sms_rules.OPT_IN_REPLY
        if kind == "HELP" and not blocked:  # an opted-out texter gets no help reply
            return sms_rules.HELP_REPLY
        return None

    def _ask_app_about_text(self, inbound: Message) -> list[Message]:
        assert self.sms_url is not None
        params = sms_rules.inbound_params(inbound, self.account_sid)
        response = self._post_message_webhook(inbound, self.sms_url, params, kind="webhook")
        if response is None or response.status_code >= 400:
            why = f"status {response.status_code}" if response is not None else "no answer"
            self._message_event(
                inbound, "error", {"code": 11200, "message": f"HTTP retrieval failure: {why}"}
            )
            return []
        try:
            wanted = sms_rules.parse_reply(response.text)
        except sms_rules.ReplyError as exc:
            self._message_event(inbound, "error", {"code": exc.code, "message": str(exc)})
            return []
        return [self._send_reply(inbound, reply) for reply in wanted if reply.body]

    def _send_reply(
        self, inbound: Message, reply: sms_rules.ReplyMessage, *, by_twilio: bool = False
    ) -> Message:
        """Send one reply to a text: Twilio's auto-reply, or a <Message> of the app's."""
        to, sender = reply.to or inbound.from_, reply.from_ or inbound.to
        callback = _resolve(self.sms_url, reply.action) if reply.action else None
        message = self._record_message(
            to,
            sender,
            reply.body,
            direction="outbound-reply",
            service=self.messaging_service_sid,
            status_callback=callback,
        )
        # Twilio's confirmation of a STOP still goes out; nothing else reaches a texter who
        # has opted out of this sender.
        if not by_twilio and self._opted_out(sender, to):
            self._set_message_status(message, "failed", 21610)
            message.done.set()
        else:
            self._pool.submit(self._deliver_message_guarded, message)
        return message

    # --- delivery --------------------------------------------------------------------

    def _record_message(
        self,
        to: str,
        from_: str,
        body: str,
        *,
        direction: str,
        service: str | None,
        status: str | None = None,
        status_callback: str | None = None,
    ) -> Message:
        message = Message(
            new_sid("SM"),
            to,
            from_,
            body,
            self.clock.now(),
            status=status or ("accepted" if service else "queued"),
            direction=direction,
            messaging_service_sid=service,
            status_callback=status_callback,
            num_segments=sms_rules.segments(body),
        )
        with self._lock:
            self.messages.append(message)
        self._message_event(message, "status", {"status": message.status})
        return message

    def _deliver_message_guarded(self, message: Message) -> None:
        try:
            self._deliver_message(message)
        except Exception:  # a simulator bug must still end the message and say so
            log.exception("simulator failed delivering message %s", message.sid)
            self._set_message_status(message, "failed", 30008)
        try:
            if message.status == "delivered":
                # Before `done`: whoever waits for the messages waits for the reply too (its
                # own record exists by then, so wait_messages sees it).
                self._text_back_scripted(message)
        except Exception:
            log.exception("simulator failed texting back after %s", message.sid)
        finally:
            message.done.set()

    def _deliver_message(self, message: Message) -> None:
        script = self.script_for(message.to)
        if message.status == "accepted":
            self._message_step(message, 0.0, "queued")
        self._message_step(message, SENDING_AFTER, "sending")
        if script.sms == "failed":
            self._message_step(message, SENT_AFTER, "failed", sms_rules.OUTCOME_ERRORS["failed"])
            return
        self._message_step(message, SENT_AFTER, "sent")
        if script.line == "landline":  # attempted in the US, CA and UK; no handset takes it
            outcome, error = "undelivered", sms_rules.OUTCOME_ERRORS["landline"]
        elif script.sms == "undelivered":
            outcome, error = "undelivered", sms_rules.OUTCOME_ERRORS["undelivered"]
        else:
            outcome, error = "delivered", None
        self._message_step(message, RECEIPT_AFTER, outcome, error)

    def _message_step(
        self, message: Message, after: float, status: str, error: int | None = None
    ) -> None:
        self.clock.pace(after)
        with self._lock:
            message.t += after
            if status == "sent":
                message.sent_offset = message.t
        self._set_message_status(message, status, error)

    def _set_message_status(self, message: Message, status: str, error: int | None = None) -> None:
        with self._lock:
            message.status = status
            message.error_code = error
            message.error_message = sms_rules.ERROR_MESSAGES.get(error) if error else None
        self._message_event(message, "status", {"status": status, "error_code": error})
        if message.status_callback:
            self._post_message_webhook(
                message,
                message.status_callback,
                sms_rules.status_params(message, self.account_sid),
                kind="callback",
            )

    def _text_back_scripted(self, delivered: Message) -> None:
        """The recipient's script replies to a message it got, one reply per message."""
        replies = self.script_for(delivered.to).sms_replies
        with self._lock:
            used = self._replies_used.get(delivered.to, 0)
            if used >= len(replies):
                return
            self._replies_used[delivered.to] = used + 1
        self.text_line(delivered.to, replies[used], to=delivered.from_)

    def _sender_scope(self, number: str) -> str:
        return self.messaging_service_sid or number

    def _opted_out(self, sender: str, recipient: str) -> bool:
        with self._lock:
            return (self._sender_scope(sender), recipient) in self.opted_out

    # --- signed requests, and the message's log --------------------------------------

    def _post_message_webhook(
        self, message: Message, url: str, params: Mapping[str, str], *, kind: str
    ) -> requests.Response | None:
        items = sorted(params.items())
        headers = {
            "X-Twilio-Signature": signature(self.auth_token, url, items),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        detail: dict[str, Any] = {"url": url, "status_sent": params.get("MessageStatus")}
        try:
            # Twilio's default connect and read timeouts (SMS webhooks take no URL
            # overrides here: see docs/simulator.md).
            timeouts = (
                CONNECTION_DEFAULTS.connect_timeout_ms / 1000,
                CONNECTION_DEFAULTS.read_timeout_ms / 1000,
            )
            response = self.http.post(url, data=items, headers=headers, timeout=timeouts)
        except requests.RequestException as exc:
            self._message_event(message, kind, {**detail, "error": type(exc).__name__})
            return None
        self._message_event(message, kind, {**detail, "http_status": response.status_code})
        return response

    def _message_event(self, message: Message, kind: str, detail: Mapping[str, Any]) -> None:
        entry = {
            "t": round(message.t, 2),
            "at": message.at().isoformat().replace("+00:00", "Z"),
            "kind": kind,
            **{k: v for k, v in detail.items() if v is not None},
        }
        with self._lock:
            message.events.append(entry)
        log.debug("message %s %s %s", message.sid, kind, entry)
