from django.db import migrations, models


def mark_lost_answers(apps, schema_editor):
    # Before this column a lost answer was a sent job with a detail (other than the
    # reason it waited before its claim, which the claim kept).
    RestartJob = apps.get_model("restarts", "RestartJob")
    waited = ("not_connected", "not_registered", "gateway_late")
    sent = RestartJob.objects.filter(state="sent").exclude(detail="").exclude(detail__in=waited)
    sent.exclude(detail__startswith="retry after boot: ").update(answer_lost=True)


class Migration(migrations.Migration):
    dependencies = [("restarts", "0006_self_healing_policy_cases_auto_source")]

    operations = [
        migrations.AddField(
            model_name="restartjob",
            name="answer_lost",
            field=models.BooleanField(default=False, verbose_name="answer lost"),
        ),
        migrations.RunPython(mark_lost_answers, migrations.RunPython.noop),
    ]
