"""Login, logout, the language switch, and that every page needs a login."""

import pytest

from tenancy.models import Membership
from tests.factories import make_charger, make_member


@pytest.mark.django_db
def test_anonymous_visitor_is_sent_to_the_danish_login_page(client):
    response = client.get("/chargers/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/login/?next=/chargers/")
    body = response.content.decode()
    assert "Log ind" in body
    assert '<html lang="da">' in body


@pytest.mark.django_db
def test_admin_site_also_needs_a_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302


def test_login_with_a_wrong_password_shows_an_error_and_stays_out(client, tree):
    make_member(tree["a"], Membership.Role.ADMIN, username="anna", password="right-pw")
    response = client.post("/login/", {"username": "anna", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert client.get("/chargers/").status_code == 302


def test_member_logs_in_and_sees_the_opladere_page_with_their_chargers(client, tree):
    make_member(tree["a"], Membership.Role.ADMIN, username="anna", password="right-pw")
    mine = make_charger(tree["a1"], name="Min lader")
    theirs = make_charger(tree["other_root"], name="Fremmed lader")
    response = client.post("/login/", {"username": "anna", "password": "right-pw"}, follow=True)
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == "/chargers/"
    assert "Opladere" in body
    assert mine.name in body
    assert theirs.name not in body


def test_logout_is_a_post_and_ends_the_session(client, tree):
    user = make_member(tree["a"], Membership.Role.USER)
    client.force_login(user)
    assert client.get("/logout/").status_code == 405
    client.post("/logout/")
    assert client.get("/chargers/").status_code == 302


def test_language_switch_turns_the_page_english(client, tree):
    client.force_login(make_member(tree["a"], Membership.Role.USER))
    client.post("/i18n/setlang/", {"language": "en", "next": "/chargers/"})
    body = client.get("/chargers/").content.decode()
    assert '<html lang="en">' in body
    assert ">Chargers<" in body


@pytest.mark.django_db
def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
