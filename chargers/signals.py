"""What the gateway records about a charger, as signals other apps react to.

The gateway sends these after the change is written; `restarts` listens, so the
gateway never needs to know about restarts.
"""

from django.dispatch import Signal

# kwargs: charger_id, at (datetime), connection_token
charger_connected = Signal()
# kwargs: charger_id, at, connection_token
charger_disconnected = Signal()
# kwargs: charger_id, at, reason (BootNotification reason; "" in OCPP 1.6, which has none),
# connected_at (when the socket that carried the boot was opened; None if not known),
# in_batch (True from the gateway: `chargers_booted` follows with this boot, so a
# listener that handles boots set-wise skips it here)
charger_booted = Signal()
# kwargs: boots (list of dicts with charger_id, at, reason, connected_at, in the order
# they happened): every boot one write of the gateway applied, once per write. A storm
# of a thousand boots is one signal, so a listener can decide them in a few statements.
chargers_booted = Signal()
# kwargs: charger_id, at, status (OCPP connector/charger status), connector_id
charger_status_changed = Signal()
# kwargs: charger_id, at, active (bool: any connector still has a session), connector
# (the connector or EVSE whose session started or ended; "" when a boot cleared them all)
charger_session_changed = Signal()

# Sent by the portal, not the gateway: a charger must now prove a higher security profile.
# kwargs: charger_id, charge_point_id, profile. The gateway closes a socket that connected
# with less (ocpp_gateway/receivers.py), so the new floor holds from the next handshake.
security_profile_raised = Signal()
