from django.core.management.base import BaseCommand, CommandError

from evse_payout.services.ocpi_tokens import OCPITokenError, create_ocpi_token


class Command(BaseCommand):
    help = (
        "Create an OCPI token for a roaming peer and print it (last word of the output). "
        "Only its SHA-256 is stored: it cannot be shown again. The token may speak only for "
        "the parties given with --party; without any it can do nothing until the admin adds some."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who the token is for, e.g. the peer's party id.")
        parser.add_argument(
            "--party",
            action="append",
            default=[],
            metavar="CC/PID",
            help="An OCPI party (country_code/party_id, role CPO) the token may speak for, "
            "e.g. BE/BEC. Repeat for more parties.",
        )

    def handle(self, *args, name, party, **options):
        try:
            created = create_ocpi_token(name=name, parties=party, actor_name="create_ocpi_token")
        except OCPITokenError as exc:
            raise CommandError(str(exc)) from exc
        parties = ", ".join(f"{cc}/{pid}" for cc, pid in sorted(created.token.party_keys()))
        if not parties:
            self.stderr.write(
                "Warning: the token has no party and will be refused until it is given one "
                "(Django admin → OCPI tokens)."
            )
        self.stdout.write(
            f"Created OCPI token “{created.token.name}” for parties {parties or 'none'}. "
            "The peer sends “Authorization: Token <base64 of the token>” (the raw token works "
            f"too). It is shown only now: {created.secret}"
        )
