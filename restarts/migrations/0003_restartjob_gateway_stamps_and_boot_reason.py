"""Jobs get the gateway's stamps: `sent_at` becomes when the Reset frame was written (it
was the claim time), `claimed_at` the claim time, `answered_at` when the answer came, `boot_reason` what the confirming boot said."""

from django.db import migrations, models
from django.db.models import F


def claimed_when_sent(apps, schema_editor):
    # Before, `sent_at` was stamped at the claim: that is what `claimed_at` now says.
    RestartJob = apps.get_model("restarts", "RestartJob")
    RestartJob.objects.filter(sent_at__isnull=False).update(claimed_at=F("sent_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("restarts", "0002_job_states_waiting_unconfirmed_cancelled"),
    ]

    operations = [
        migrations.AddField(
            model_name="restartjob",
            name="answered_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="answered at"),
        ),
        migrations.AddField(
            model_name="restartjob",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="claimed at"),
        ),
        migrations.AddField(
            model_name="restartjob",
            name="boot_reason",
            field=models.CharField(blank=True, max_length=32, verbose_name="boot reason"),
        ),
        migrations.RunPython(claimed_when_sent, migrations.RunPython.noop),
    ]
