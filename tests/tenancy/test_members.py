"""Members: invitations, role changes and removal, with the role ceiling and the
last-super-admin rule."""

import re
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from tenancy import access, services
from tenancy.models import AuditEvent, Membership
from tests.factories import make_member, make_user
from tests.helpers import free_port, wait_for

Role = Membership.Role


@pytest.fixture
def boss(tree):
    return make_member(tree["root"], Role.SUPER_ADMIN, username="boss")


def invite(client, group, email, role):
    return client.post(f"/groups/{group.pk}/members/", {"email": email, "role": role})


# -- invitations -------------------------------------------------------------


def test_a_new_person_is_invited_sets_a_password_and_logs_in(client, tree, boss):
    client.force_login(boss)
    response = invite(client, tree["a"], "Ny.Admin@Example.com", Role.ADMIN)
    assert response.status_code == 302
    new = get_user_model().objects.get(email="ny.admin@example.com")
    assert new.username == "ny.admin@example.com" and not new.has_usable_password()
    assert Membership.objects.get(user=new).role == Role.ADMIN
    event = AuditEvent.objects.get(action="member.add")
    assert event.actor == boss and event.after == {
        "user": new.username,
        "group": "A",
        "role": "admin",
    }

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ny.admin@example.com"]
    assert "ny.admin@example.com" in message.body
    link = re.search(r"http://testserver(/invitation/\S+/)", message.body).group(1)

    client.logout()
    form = client.get(link, follow=True)
    assert "Vælg din adgangskode" in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    done = client.post(
        set_url,
        {"new_password1": "lang-og-sikker-42", "new_password2": "lang-og-sikker-42"},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == "/login/"
    login = client.post(
        "/login/",
        {"username": "ny.admin@example.com", "password": "lang-og-sikker-42"},
        follow=True,
    )
    assert login.redirect_chain[-1][0] == "/chargers/"
    # The link works once.
    client.logout()
    assert "virker ikke længere" in client.get(link, follow=True).content.decode()


def test_an_existing_person_is_added_without_an_invitation(client, tree, boss):
    known = make_user(username="kendt", email="kendt@example.com")
    client.force_login(boss)
    invite(client, tree["b"], "KENDT@example.com", Role.USER)
    assert Membership.objects.get(user=known, group=tree["b"]).role == Role.USER
    assert mail.outbox == []


def test_adding_someone_twice_to_the_same_group_is_a_form_error(client, tree, boss):
    client.force_login(boss)
    invite(client, tree["a"], "x@example.com", Role.USER)
    again = invite(client, tree["a"], "x@example.com", Role.ADMIN)
    assert again.status_code == 200
    assert "allerede medlem af denne gruppe" in again.content.decode()
    assert Membership.objects.filter(user__email="x@example.com").count() == 1


def test_an_invalid_email_is_a_form_error(client, tree, boss):
    client.force_login(boss)
    response = invite(client, tree["a"], "not-an-address", Role.USER)
    assert response.status_code == 200
    assert "Indtast en gyldig e-mail-adresse." in response.content.decode()
    assert get_user_model().objects.count() == 1


def test_when_the_invitation_cannot_be_sent_nothing_is_created(client, tree, boss, settings):
    # A real SMTP backend pointed at a loopback port where nothing listens.
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 5},
        }
    }
    client.force_login(boss)
    response = invite(client, tree["a"], "lost@example.com", Role.USER)
    assert response.status_code == 200
    assert "kunne ikke sendes" in response.content.decode()
    assert not get_user_model().objects.filter(email="lost@example.com").exists()
    assert not AuditEvent.objects.exists()


# -- role ceiling ------------------------------------------------------------


def test_an_admin_adds_people_but_never_above_their_own_role(client, tree):
    admin = make_member(tree["a"], Role.ADMIN)
    client.force_login(admin)
    page = client.get(f"/groups/{tree['a'].pk}/members/").content.decode()
    assert 'value="super_admin"' not in page
    refused = invite(client, tree["a1"], "boss2@example.com", Role.SUPER_ADMIN)
    assert "Du kan ikke give en rolle over din egen." in refused.content.decode()
    assert not Membership.objects.filter(role=Role.SUPER_ADMIN).exists()
    invite(client, tree["a1"], "colleague@example.com", Role.ADMIN)
    assert Membership.objects.get(user__email="colleague@example.com").group == tree["a1"]


def test_the_ceiling_holds_in_the_service_too(tree):
    admin = make_member(tree["a"], Role.ADMIN)
    user_m = Membership.objects.get(user=make_member(tree["a1"], Role.USER))
    with pytest.raises(ValidationError) as err:
        services.member_set_role(actor=admin, membership=user_m, role=Role.SUPER_ADMIN)
    assert "role" in err.value.error_dict
    user_m.refresh_from_db()
    assert user_m.role == Role.USER


def test_an_admin_cannot_touch_a_super_admin(client, tree, boss):
    admin = make_member(tree["root"], Role.ADMIN)
    boss_m = Membership.objects.get(user=boss)
    client.force_login(admin)
    page = client.get(f"/groups/{tree['root'].pk}/members/").content.decode()
    assert "Fjern boss" not in page
    assert client.post(f"/members/{boss_m.pk}/role/", {"role": "user"}).status_code == 403
    assert client.post(f"/members/{boss_m.pk}/remove/").status_code == 403
    with pytest.raises(PermissionDenied):
        services.member_remove(actor=admin, membership=boss_m)
    boss_m.refresh_from_db()
    assert boss_m.role == Role.SUPER_ADMIN


def test_a_plain_user_manages_nobody(client, tree):
    user = make_member(tree["a"], Role.USER)
    other = Membership.objects.get(user=make_member(tree["a"], Role.USER))
    client.force_login(user)
    assert client.get(f"/groups/{tree['a'].pk}/members/").status_code == 403
    assert invite(client, tree["a"], "x@example.com", Role.USER).status_code == 403
    # Memberships are fetched through the groups whose people one manages: 404.
    assert client.post(f"/members/{other.pk}/remove/").status_code == 404


def test_people_of_another_organisation_are_404(client, tree, boss):
    stranger = Membership.objects.get(user=make_member(tree["other_root"], Role.USER))
    client.force_login(boss)
    assert client.post(f"/members/{stranger.pk}/role/", {"role": "admin"}).status_code == 404
    assert client.get(f"/members/{stranger.pk}/remove/").status_code == 404
    assert client.post(f"/members/{stranger.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=stranger.pk).exists()


# -- role changes and removal ---------------------------------------------------


def test_super_admin_changes_a_role_and_it_is_audited(client, tree, boss):
    m = Membership.objects.get(user=make_member(tree["a"], Role.USER, username="ulla"))
    client.force_login(boss)
    response = client.post(f"/members/{m.pk}/role/", {"role": "admin"}, follow=True)
    assert "ulla er nu Administrator." in response.content.decode()
    m.refresh_from_db()
    assert m.role == Role.ADMIN
    event = AuditEvent.objects.get(action="member.role")
    assert (event.before["role"], event.after["role"]) == ("user", "admin")
    assert access.can_manage_chargers_in(m.user, tree["a1"])


def test_the_last_super_admin_of_a_tree_can_be_neither_removed_nor_demoted(client, tree, boss):
    boss_m = Membership.objects.get(user=boss)
    with pytest.raises(ValidationError, match="sidste superadministrator"):
        services.member_remove(actor=boss, membership=boss_m)
    with pytest.raises(ValidationError, match="sidste superadministrator"):
        services.member_set_role(actor=boss, membership=boss_m, role=Role.ADMIN)
    client.force_login(boss)
    page = client.post(f"/members/{boss_m.pk}/remove/").content.decode()
    assert "boss er den sidste superadministrator" in page
    boss_m.refresh_from_db()
    assert boss_m.role == Role.SUPER_ADMIN


def test_a_super_admin_below_does_not_count_for_the_tree_above(tree, boss):
    make_member(tree["a"], Role.SUPER_ADMIN)
    with pytest.raises(ValidationError):
        services.member_remove(actor=boss, membership=Membership.objects.get(user=boss))


def test_a_super_admin_goes_once_another_covers_the_tree(tree, boss):
    second = make_member(tree["root"], Role.SUPER_ADMIN)
    sub = Membership.objects.get(user=make_member(tree["a"], Role.SUPER_ADMIN))
    services.member_remove(actor=boss, membership=sub)  # root's super-admins cover A
    services.member_remove(actor=second, membership=Membership.objects.get(user=boss))
    remaining = Membership.objects.filter(role=Role.SUPER_ADMIN).values_list("user", flat=True)
    assert list(remaining) == [second.pk]
    assert AuditEvent.objects.filter(action="member.remove").count() == 2


def test_an_inactive_super_admin_does_not_count(tree, boss):
    make_member(tree["root"], Role.SUPER_ADMIN, is_active=False)
    with pytest.raises(ValidationError):
        services.member_remove(actor=boss, membership=Membership.objects.get(user=boss))


def test_members_page_lists_own_and_inherited_members(client, tree, boss):
    make_member(tree["a"], Role.USER, username="ulla", email="ulla@example.com")
    client.force_login(boss)
    body = client.get(f"/groups/{tree['a'].pk}/members/").content.decode()
    assert "ulla@example.com" in body
    assert "boss — Superadministrator (Root)" in body
    assert 'aria-label="Gem rolle for ulla"' in body


@pytest.mark.django_db(transaction=True)
def test_two_super_admins_removing_each_other_at_once_leave_one(tree):
    first = make_member(tree["root"], Role.SUPER_ADMIN)
    second = make_member(tree["root"], Role.SUPER_ADMIN)
    first_m, second_m = (Membership.objects.get(user=u) for u in (first, second))
    outcome = {}

    def second_removes_first():
        try:
            services.member_remove(actor=second, membership=first_m)
            outcome["second"] = "removed"
        except PermissionDenied:
            outcome["second"] = "no longer a super-admin"
        except ValidationError:
            outcome["second"] = "last super-admin"
        finally:
            connection.close()

    def waiting_on_a_lock():
        with connection.cursor() as cursor:
            # Statistics views are a snapshot per transaction: refresh it each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return cursor.fetchone()[0] == 1

    with transaction.atomic():
        services.member_remove(actor=first, membership=second_m)
        worker = threading.Thread(target=second_removes_first)
        worker.start()
        # The other removal must wait for this one's tree lock, not decide on old data.
        wait_for(waiting_on_a_lock, message="the second removal to wait for the first")
    worker.join(timeout=30)
    # Decided after the first removal committed: the second is no super-admin any more.
    assert outcome == {"second": "no longer a super-admin"}
    assert list(Membership.objects.filter(role=Role.SUPER_ADMIN)) == [first_m]
