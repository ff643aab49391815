from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config import demo


class Command(BaseCommand):
    help = "Create (or refresh) the demo organisations, groups, chargers and logins. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="password for the demo logins")
        parser.add_argument(
            "--force", action="store_true", help="run even with DEBUG off (never in production)"
        )

    def handle(self, *args, password=None, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off: seed_demo refuses to run without --force.")
        pw = demo.demo_password(password)
        logins = demo.seed(pw)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password: {pw}):"))
        for username, role, group in logins:
            self.stdout.write(f"  {username:<11} {role:<12} {group}")
