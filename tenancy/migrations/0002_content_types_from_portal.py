"""Carry the content types (and so permissions and admin log entries) of the app's models
from the label `portal` to `tenancy`, so a database from before the re-cut keeps them."""

from django.db import migrations

MODELS = ["organisation", "subscription", "group", "membership", "auditevent"]


def relabel(apps, schema_editor, old="portal", new="tenancy"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MODELS:
        if ContentType.objects.using(db).filter(app_label=new, model=model).exists():
            continue
        ContentType.objects.using(db).filter(app_label=old, model=model).update(app_label=new)


def relabel_back(apps, schema_editor):
    relabel(apps, schema_editor, old="tenancy", new="portal")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("tenancy", "0001_initial"),
    ]

    operations = [migrations.RunPython(relabel, relabel_back)]
