"""Characters PostgreSQL or Python cannot take (NUL, non-ASCII digits) are answered, not 500s."""

import base64

import pytest
from django.urls import reverse

from restarts.models import RestartRequest
from tenancy.models import Membership
from tests.factories import make_charger, make_member


@pytest.fixture
def admin(tree):
    user = make_member(tree["a"], Membership.Role.ADMIN)
    make_charger(tree["a"], name="Egen lader")
    return user


@pytest.mark.parametrize(
    "url",
    ["chargers:list", "restarts:window", "chargers:move"],
)
@pytest.mark.parametrize("params", [{"group": "²"}, {"q": "a\x00b"}, {"group": "9" * 40}])
def test_filters_with_odd_characters_answer_without_an_error(client, admin, url, params):
    client.force_login(admin)
    response = client.get(reverse(url), {"scope": "filter", **params})
    assert response.status_code < 500


def test_an_idempotency_key_with_a_nul_does_not_break_okay(client, admin, tree):
    client.force_login(admin)
    charger = tree["a"].chargers.get()
    response = client.post(
        reverse("restarts:confirm"), {"charger": [charger.pk], "idempotency_key": "a\x00b"}
    )
    assert response.status_code < 500
    assert RestartRequest.objects.filter(idempotency_key="ab").count() <= 1


@pytest.mark.django_db
def test_api_sign_in_with_a_nul_in_the_username_is_a_401(client):
    token = base64.b64encode(b"a\x00b:pw").decode()
    response = client.get("/users/signin", HTTP_AUTHORIZATION=f"Basic {token}")
    assert response.status_code == 401
