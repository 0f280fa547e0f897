from django.core.management.base import BaseCommand, CommandError

from evse_payout.services.ocpi_tokens import OCPITokenError, create_ocpi_token


class Command(BaseCommand):
    help = (
        "Create an OCPI token for a roaming peer and print it (last word of the output). "
        "Only its SHA-256 is stored: it cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who the token is for, e.g. the peer's party id.")

    def handle(self, *args, name, **options):
        try:
            created = create_ocpi_token(name=name, actor_name="create_ocpi_token")
        except OCPITokenError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Created OCPI token “{created.token.name}”. The peer sends "
            "“Authorization: Token <base64 of the token>” (the raw token works too). "
            f"It is shown only now: {created.secret}"
        )
