"""A database deployed before the re-cut (when tenancy was the app `portal`) is used as is.

The tenancy app keeps the label `portal`: its migration history, tables, content types
and permissions are those the old code wrote, so `migrate` has nothing to do for them,
and the admin's URLs and the audit trail's object types stay as they were.
"""

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse

from tenancy import audit
from tenancy.models import AuditEvent, Group, Membership, Organisation, Subscription

# What the code before the re-cut recorded in a deployed database.
OLD_MIGRATIONS = {
    ("portal", "0001_initial"),
    ("chargers", "0001_initial"),
    ("restarts", "0001_initial"),
}
OLD_TABLES = {
    Organisation: "portal_organisation",
    Subscription: "portal_subscription",
    Group: "portal_group",
    Membership: "portal_membership",
    AuditEvent: "portal_auditevent",
}


@pytest.mark.django_db
def test_the_old_migration_history_is_the_current_one():
    loader = MigrationLoader(connection)
    # The names the old code recorded are this code's migrations, so they count as applied.
    assert set(loader.disk_migrations) >= OLD_MIGRATIONS
    assert set(loader.applied_migrations) >= OLD_MIGRATIONS


@pytest.mark.django_db
def test_the_tables_content_types_and_permissions_keep_their_names():
    assert apps.get_app_config("portal").name == "tenancy"
    existing = set(connection.introspection.table_names())
    for model, table in OLD_TABLES.items():
        assert model._meta.db_table == table and table in existing
        assert ContentType.objects.get_for_model(model).app_label == "portal"
    assert Permission.objects.filter(
        content_type__app_label="portal", codename="change_group"
    ).exists()


def test_the_admin_urls_are_where_they_were():
    assert (
        reverse("admin:portal_auditevent_change", args=[1]) == "/admin/portal/auditevent/1/change/"
    )


@pytest.mark.django_db
def test_the_audit_trail_names_objects_as_before(tree):
    event = audit.record(action="test.event", group=tree["a"], obj=tree["a"], summary="s")
    assert event.object_type == "portal.group"
