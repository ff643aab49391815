"""A database migrated before the re-cut (app label `portal`) migrates on without loss.

Before the re-cut the tenancy models lived in the app `portal`: the same tables
(`portal_*`), but `django_migrations` said ("portal", "0001_initial") and the content
types (hence permissions and admin log entries) said `portal`. That is all that differs,
so the test builds exactly that database, writes data into it, and migrates it.
"""

import os
import uuid

import dj_database_url
import psycopg
import pytest

from tests.helpers import manage


@pytest.fixture
def old_database():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("needs the PostgreSQL server of DATABASE_URL")
    server = dj_database_url.parse(url)
    name = f"recut_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(
        host=server["HOST"], port=server["PORT"] or 5432, user=server["USER"], dbname="postgres"
    )
    admin.autocommit = True
    admin.execute(f'CREATE DATABASE "{name}"')
    params = {"host": server["HOST"], "port": server["PORT"] or 5432, "user": server["USER"]}
    user = server["USER"]
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{user}@{params['host']}:{params['port']}/{name}"
    try:
        yield env, dict(params, dbname=name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def make_it_old(conn):
    """Turn a freshly migrated database into one migrated by the code before the re-cut."""
    conn.execute(
        "UPDATE django_migrations SET app = 'portal' "
        "WHERE app = 'tenancy' AND name = '0001_initial'"
    )
    conn.execute("DELETE FROM django_migrations WHERE app = 'tenancy'")
    conn.execute("UPDATE django_content_type SET app_label = 'portal' WHERE app_label = 'tenancy'")


def test_a_database_from_before_the_recut_migrates_and_keeps_its_rows(old_database):
    env, params = old_database
    first = manage("migrate", "--noinput", env=env)
    assert first.returncode == 0, first.stderr
    with psycopg.connect(**params, autocommit=True) as conn:
        make_it_old(conn)
        conn.execute("INSERT INTO portal_organisation (name, created_at) VALUES ('Gamle', now())")
        perm = conn.execute(
            "SELECT p.id FROM auth_permission p JOIN django_content_type c "
            "ON c.id = p.content_type_id WHERE c.app_label = 'portal' AND p.codename = "
            "'change_group'"
        ).fetchone()
        assert perm is not None

    again = manage("migrate", "--noinput", env=env)
    assert again.returncode == 0, again.stderr

    with psycopg.connect(**params, autocommit=True) as conn:
        applied = {
            (app, name)
            for app, name in conn.execute("SELECT app, name FROM django_migrations").fetchall()
        }
        assert ("tenancy", "0001_initial") in applied
        assert ("tenancy", "0002_content_types_from_portal") in applied
        labels = {row[0] for row in conn.execute("SELECT app_label FROM django_content_type")}
        assert "tenancy" in labels and "portal" not in labels
        # The permission kept its row (and so every user and group that held it).
        moved = conn.execute(
            "SELECT c.app_label FROM auth_permission p JOIN django_content_type c "
            "ON c.id = p.content_type_id WHERE p.id = %s",
            (perm[0],),
        ).fetchone()
        assert moved == ("tenancy",)

    read = manage(
        "shell",
        "-c",
        "from tenancy.models import Organisation; "
        "print(list(Organisation.objects.values_list('name', flat=True)))",
        env=env,
    )
    assert read.returncode == 0, read.stderr
    assert "Gamle" in read.stdout
    plan = manage("migrate", "--plan", env=env)
    assert "No planned migration operations" in plan.stdout
