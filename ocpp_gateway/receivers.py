"""The gateway layer's answers to what the portal changes (connected in apps.ready()).

Runs in the web or worker process that made the change: it only puts a message on the
command channel for the gateway holding the charger.
"""

from __future__ import annotations

import logging

from django.dispatch import receiver

from chargers.signals import security_profile_raised
from ocpp_gateway import commands

logger = logging.getLogger("ocpp_gateway")


@receiver(security_profile_raised, dispatch_uid="ocpp_gateway.close_weaker_socket")
def close_weaker_socket(sender, charge_point_id: str, profile: int, **kwargs) -> None:
    if commands.close_weaker(charge_point_id, profile):
        logger.info(
            "%s: asked its gateway to hold it to security profile %d", charge_point_id, profile
        )
