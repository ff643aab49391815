"""The OCPP actions a charger sends us, per version: answer each, record what it says.

``ChargePoint16`` and ``ChargePoint201`` are the ``ocpp`` package's ChargePoints of
each version with our ``GatewayChargePointMixin`` (``charge_point.py``: framing, our
outgoing calls, recording) mixed in before them. Handlers are ``@on(Action)`` methods
that only answer and record; they never await a call to the same charger.
"""

from __future__ import annotations

import logging

from ocpp import v16, v201
from ocpp.routing import on
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from ocpp_gateway import pacing
from ocpp_gateway.charge_point import GatewayChargePointMixin, utc_now_iso

logger = logging.getLogger("ocpp_gateway")


class ChargePoint16(GatewayChargePointMixin, v16.ChargePoint):
    _not_json_code = "FormationViolation"
    _bad_frame_code = "FormationViolation"
    _bad_message_type_code = "ProtocolError"

    def _error_code(self, error):
        # OCPP 1.6 spells two codes differently from 2.0.1 (see the 1.6 errata).
        return {
            "FormatViolation": "FormationViolation",
            "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
        }.get(error.code, error.code)

    @on(Action16.boot_notification)
    def on_boot_notification(self, charge_point_vendor, charge_point_model, **kwargs):
        if wait := pacing.boot_wait(self):  # a storm: not registered yet, ask again later
            return result16.BootNotification(
                current_time=utc_now_iso(), interval=wait, status="Pending"
            )
        self._record_boot(
            "",  # 1.6's BootNotification gives no reason; 2.0.1's does
            vendor=charge_point_vendor,
            model=charge_point_model,
            firmware_version=kwargs.get("firmware_version", ""),
            serial_number=kwargs.get("charge_point_serial_number")
            or kwargs.get("charge_box_serial_number", ""),
        )
        self.sessions.booted()
        return result16.BootNotification(
            current_time=utc_now_iso(), interval=self.heartbeat_interval, status="Accepted"
        )

    @on(Action16.heartbeat)
    def on_heartbeat(self, **kwargs):
        return result16.Heartbeat(current_time=utc_now_iso())

    @on(Action16.status_notification)
    def on_status_notification(self, connector_id, status, **kwargs):
        self._record_status(connector_id, status, connector_id)
        self.sessions.status_16(connector_id, status)
        return result16.StatusNotification()

    @on(Action16.authorize)
    def on_authorize(self, id_tag, **kwargs):
        # The portal keeps no tag list: every tag may charge (the charger's own list rules).
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action16.start_transaction)
    async def on_start_transaction(self, connector_id, id_tag, **kwargs):
        transaction_id = await self.gateway.next_transaction_id()
        self.sessions.started(connector_id, transaction_id)
        return result16.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": "Accepted"}
        )

    @on(Action16.stop_transaction)
    def on_stop_transaction(self, transaction_id, **kwargs):
        self.sessions.ended(transaction_id=transaction_id)
        return result16.StopTransaction()

    @on(Action16.meter_values)
    def on_meter_values(self, **kwargs):
        return result16.MeterValues()

    @on(Action16.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        return result16.DataTransfer(status="UnknownVendorId")

    @on(Action16.firmware_status_notification)
    def on_firmware_status_notification(self, status, **kwargs):
        self._record_firmware(status)
        return result16.FirmwareStatusNotification()

    @on(Action16.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, **kwargs):
        return result16.DiagnosticsStatusNotification()

    @on(Action16.security_event_notification)
    def on_security_event_notification(self, **kwargs):
        logger.info("%s: security event %s", self.id, kwargs.get("type"))
        return result16.SecurityEventNotification()

    @on(Action16.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, **kwargs):
        return result16.SignedFirmwareStatusNotification()

    @on(Action16.log_status_notification)
    def on_log_status_notification(self, **kwargs):
        return result16.LogStatusNotification()


class ChargePoint201(GatewayChargePointMixin, v201.ChargePoint):
    _not_json_code = "RpcFrameworkError"
    _bad_frame_code = "RpcFrameworkError"
    _bad_message_type_code = "MessageTypeNotSupported"

    def _error_code(self, error):
        # 2.0.1 fixed 1.6's spellings; the ocpp library raises some errors with the old ones.
        return {
            "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
            "FormationViolation": "FormatViolation",
        }.get(error.code, error.code)

    @on(Action201.boot_notification)
    def on_boot_notification(self, charging_station, reason, **kwargs):
        if wait := pacing.boot_wait(self):  # a storm: not registered yet, ask again later
            return result201.BootNotification(
                current_time=utc_now_iso(), interval=wait, status="Pending"
            )
        self._record_boot(
            reason,
            vendor=charging_station.get("vendor_name", ""),
            model=charging_station.get("model", ""),
            firmware_version=charging_station.get("firmware_version", ""),
            serial_number=charging_station.get("serial_number", ""),
        )
        self.sessions.booted()
        return result201.BootNotification(
            current_time=utc_now_iso(), interval=self.heartbeat_interval, status="Accepted"
        )

    @on(Action201.heartbeat)
    def on_heartbeat(self, **kwargs):
        return result201.Heartbeat(current_time=utc_now_iso())

    @on(Action201.status_notification)
    def on_status_notification(self, connector_status, evse_id, connector_id, **kwargs):
        self._record_status((evse_id, connector_id), connector_status, connector_id)
        return result201.StatusNotification()

    @on(Action201.transaction_event)
    def on_transaction_event(self, event_type, transaction_info, **kwargs):
        # Started, Updated (also from a charger that reconnected mid-session) or Ended
        evse = kwargs.get("evse") or {}
        self.sessions.transaction_event_201(
            event_type, transaction_info.get("transaction_id"), evse.get("id")
        )
        if kwargs.get("id_token"):
            return result201.TransactionEvent(id_token_info={"status": "Accepted"})
        return result201.TransactionEvent()

    @on(Action201.authorize)
    def on_authorize(self, id_token, **kwargs):
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on(Action201.meter_values)
    def on_meter_values(self, **kwargs):
        return result201.MeterValues()

    @on(Action201.notify_event)
    def on_notify_event(self, **kwargs):
        return result201.NotifyEvent()

    @on(Action201.notify_report)
    def on_notify_report(self, **kwargs):
        return result201.NotifyReport()

    @on(Action201.security_event_notification)
    def on_security_event_notification(self, **kwargs):
        logger.info("%s: security event %s", self.id, kwargs.get("type"))
        return result201.SecurityEventNotification()

    @on(Action201.firmware_status_notification)
    def on_firmware_status_notification(self, status, **kwargs):
        self._record_firmware(status)
        return result201.FirmwareStatusNotification()

    @on(Action201.log_status_notification)
    def on_log_status_notification(self, **kwargs):
        return result201.LogStatusNotification()

    @on(Action201.data_transfer)
    def on_data_transfer(self, vendor_id, **kwargs):
        return result201.DataTransfer(status="UnknownVendorId")


CHARGE_POINT_CLASSES = {"ocpp1.6": ChargePoint16, "ocpp2.0.1": ChargePoint201}
