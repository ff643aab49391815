"""With Redis away, the portal says so (translated, 503) instead of showing an error page."""

import pytest

from restarts.models import RestartJob, RestartRequest
from tenancy.models import AuditEvent, Membership
from tests.factories import make_charger, make_member
from tests.helpers import free_port


@pytest.fixture
def admin(tree):
    return make_member(tree["a"], Membership.Role.ADMIN)


@pytest.mark.urls("tests.tenancy.unavailable_urls")
def test_a_redis_connection_error_is_a_translated_503_page(client, admin):
    client.force_login(admin)
    response = client.get("/needs-redis/")
    assert response.status_code == 503 and response["Retry-After"]
    body = response.content.decode()
    assert "<html" in body and "Midlertidigt utilgængelig" in body
    assert "Prøv igen om et minut" in body


@pytest.mark.urls("tests.tenancy.unavailable_urls")
def test_for_htmx_it_is_a_fragment_htmx_swaps_in(client, admin):
    client.force_login(admin)
    response = client.get("/needs-redis/", HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    body = response.content.decode()
    assert "<html" not in body and 'role="alert"' in body and "Midlertidigt utilgængelig" in body


def test_okay_while_the_task_queue_is_away_refuses_and_writes_nothing(
    client, tree, admin, settings
):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens
    chargers = [make_charger(tree["a"]) for _ in range(2)]
    client.force_login(admin)
    response = client.post(
        "/restarts/confirm/",
        {"charger": [c.pk for c in chargers], "idempotency_key": "k", "mode": "default"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 503
    body = response.content.decode()
    assert "jobkøen ikke er tilgængelig" in body and "Intet blev genstartet" in body
    assert not RestartRequest.objects.exists() and not RestartJob.objects.exists()
    assert not AuditEvent.objects.filter(action="restart.requested").exists()
